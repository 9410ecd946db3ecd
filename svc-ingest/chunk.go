package ingest

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/siteconfig"
)

// retentionDays is how long recordings keeps the chunk's session: the
// site's setting capped by its plan's ceiling; a site without a setting gets
// the ceiling. Zero (neither is set) leaves it to recordings' default.
// Negative values are treated as unset.
func retentionDays(site *siteconfig.Site) int32 {
	days := max(site.GetSettings().GetRetentionDays(), 0)
	ceiling := max(site.GetPlan().GetMaxRetentionDays(), 0)
	switch {
	case days == 0:
		return ceiling
	case ceiling == 0:
		return days
	default:
		return min(days, ceiling)
	}
}

// coldAfterDays is the site's cold age, never past the chunk's retention
// (a session expired before it is cold is never moved). Zero: never.
func coldAfterDays(site *siteconfig.Site, retention int32) int32 {
	days := max(site.GetSettings().GetColdAfterDays(), 0)
	if retention > 0 {
		days = min(days, retention)
	}
	return days
}

// captureAssets is the site's asset-capture switch; unset means on.
func captureAssets(site *siteconfig.Site) bool {
	st := site.GetSettings()
	return st == nil || st.CaptureAssets == nil || *st.CaptureAssets
}

// chunkMsg holds one chunk being built, with its sub-messages.
type chunkMsg struct {
	chunk                  recordingsv1.Chunk
	serverTime, clientTime timestamppb.Timestamp
	viewport               recordingsv1.Viewport
}

var chunkMsgPool = sync.Pool{New: func() any { return new(chunkMsg) }}

var chunkBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// chunk builds and encodes the spool record: the enriched chunk, carrying
// the intake span's trace context.
func (s *Service) chunk(b *batch) ([]byte, func(), error) {
	ctx, e, now := b.ctx, &b.env, b.start
	// The chunk and its small messages are one pooled allocation: they
	// live only until the chunk is encoded below.
	m := chunkMsgPool.Get().(*chunkMsg)
	defer func() {
		*m = chunkMsg{} // drop references to the request's data
		chunkMsgPool.Put(m)
	}()
	c := &m.chunk
	c.SiteId, c.OrganizationId = b.site.GetSiteId(), b.site.GetOrganizationId()
	e.Fill(c, &m.clientTime, &m.viewport)
	m.serverTime.Seconds, m.serverTime.Nanos = now.Unix(), int32(now.Nanosecond())
	c.ServerTime = &m.serverTime
	c.Client = s.enrich.Client(b.r.UserAgent(), b.ip)
	c.RetentionDays = retentionDays(b.site)
	c.ColdAfterDays = coldAfterDays(b.site, c.RetentionDays)
	c.CaptureAssets = captureAssets(b.site)
	c.Traceparent = traceparent(ctx, e.Traceparent)
	// The spool copies the payload into its write buffer, so the buffer
	// goes back to the pool once Append returns (release).
	bp := chunkBufPool.Get().(*[]byte)
	out, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], c)
	if err != nil {
		chunkBufPool.Put(bp)
		return nil, nil, fmt.Errorf("encode chunk: %w", err)
	}
	*bp = out
	return out, func() {
		if cap(*bp) <= 1<<20 {
			chunkBufPool.Put(bp)
		}
	}, nil
}

// traceparent is the W3C traceparent of ctx's span, which spooled records
// carry so that the forwarder's span can link to the intake's; else the
// one the client sent.
func traceparent(ctx context.Context, sent string) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return sent
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}
