// Package forwarder delivers ingest's spool to RecordingsService.AppendChunks.
//
// It reads the spool in order, sends a batch, and acknowledges (moves the
// persisted cursor past) the batch only after recordings answered OK; a
// failed call is retried with exponential backoff and full jitter, the same
// batch again, so per-session order holds and delivery is at least once
// (recordings de-duplicates by site, session and seq). Each call's span
// links to the intake spans of the chunks it carries.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// Forwarder is configured by its fields and started with Run.
type Forwarder struct {
	Spool        *spool.Spool
	Client       recordingsv1.RecordingsServiceClient
	Tracer       trace.Tracer
	Logger       *slog.Logger
	BatchRecords int
	BatchBytes   int
	BackoffMin   time.Duration
	BackoffMax   time.Duration
	Timeout      time.Duration
	OnDelivered  func(n int)
	OnFailure    func(err error)
	OnDropped    func(n int)

	mu    sync.Mutex
	stats Stats
	buf   []byte // the request being assembled (Run's goroutine only)
}

// Stats is a snapshot.
type Stats struct {
	Delivered, Failures, Dropped int64
	LastDelivery                 time.Time
	LastError                    string
}

// Stats returns a snapshot.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Run delivers until ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.BatchRecords <= 0 {
		f.BatchRecords = 256
	}
	if f.BatchBytes <= 0 {
		f.BatchBytes = 4 << 20
	}
	if f.BackoffMin <= 0 {
		f.BackoffMin = 100 * time.Millisecond
	}
	if f.BackoffMax < f.BackoffMin {
		f.BackoffMax = 30 * time.Second
	}
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	for {
		recs, err := f.Spool.Read(ctx, f.BatchRecords, f.BatchBytes)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("forwarder: read spool: %w", err)
		}
		// The records are encoded Chunks (encoded once, at intake): they
		// are sent as they are, not decoded and encoded again. A scan of
		// their top-level fields finds each one's traceparent and catches a
		// record that is not a Chunk.
		chunks := make([]chunk, 0, len(recs))
		for _, r := range recs {
			tp, err := scanChunk(r.Payload)
			if err != nil {
				// Checksummed yet undecodable: a bug, not a transient fault.
				f.Logger.ErrorContext(ctx, "forwarder: undecodable spool record dropped", "pos", r.Pos, "error", err)
				f.dropped(1)
				continue
			}
			chunks = append(chunks, chunk{raw: r.Payload, traceparent: tp})
		}
		if err := f.deliver(ctx, chunks); err != nil {
			return err // only ctx ending stops delivery
		}
		if err := f.Spool.Ack(recs[len(recs)-1].Next, len(recs)); err != nil {
			// The batch was delivered; a failed cursor write only means it
			// may be delivered again after a restart. Keep going.
			f.Logger.ErrorContext(ctx, "forwarder: persist cursor", "error", err)
		}
	}
}

// deliver sends chunks until recordings accepts them or ctx ends.
func (f *Forwarder) deliver(ctx context.Context, chunks []chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	backoff := f.BackoffMin
	for attempt := 1; ; attempt++ {
		err := f.send(ctx, chunks, attempt)
		if err == nil {
			f.mu.Lock()
			f.stats.Delivered += int64(len(chunks))
			f.stats.LastDelivery = time.Now()
			f.mu.Unlock()
			if f.OnDelivered != nil {
				f.OnDelivered(len(chunks))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.mu.Lock()
		f.stats.Failures++
		f.stats.LastError = err.Error()
		f.mu.Unlock()
		if f.OnFailure != nil {
			f.OnFailure(err)
		}
		if status.Code(err) == grpccodes.InvalidArgument {
			// Recordings refuses something in the batch for good: find
			// which chunk by sending them one at a time, so one bad chunk
			// cannot block the spool.
			return f.deliverOneByOne(ctx, chunks)
		}
		f.Logger.WarnContext(ctx, "forwarder: delivery failed, retrying", "attempt", attempt, "chunks", len(chunks), "backoff", backoff, "error", err)
		// Full jitter: sleep uniformly in [backoff/2, backoff].
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, f.BackoffMax)
	}
}

func (f *Forwarder) deliverOneByOne(ctx context.Context, chunks []chunk) error {
	for _, c := range chunks {
		backoff := f.BackoffMin
		for {
			err := f.send(ctx, []chunk{c}, 1)
			if err == nil {
				f.mu.Lock()
				f.stats.Delivered++
				f.stats.LastDelivery = time.Now()
				f.mu.Unlock()
				if f.OnDelivered != nil {
					f.OnDelivered(1)
				}
				break
			}
			if status.Code(err) == grpccodes.InvalidArgument {
				var id recordingsv1.Chunk // decoded only to say which chunk
				_ = proto.Unmarshal(c.raw, &id)
				f.Logger.ErrorContext(ctx, "forwarder: recordings refused a chunk; dropped",
					"site_id", id.GetSiteId(), "session_id", id.GetSessionId(), "seq", id.GetSeq(), "error", err)
				f.dropped(1)
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case <-time.After(backoff/2 + rand.N(backoff/2+1)):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(backoff*2, f.BackoffMax)
		}
	}
	return nil
}

func (f *Forwarder) dropped(n int) {
	f.mu.Lock()
	f.stats.Dropped += int64(n)
	f.mu.Unlock()
	if f.OnDropped != nil {
		f.OnDropped(n)
	}
}

var traceContext = propagation.TraceContext{}

// chunk is one spool record: an encoded recordingsv1.Chunk.
type chunk struct {
	raw         []byte
	traceparent string
}

var (
	chunkTraceparent = (&recordingsv1.Chunk{}).ProtoReflect().Descriptor().Fields().ByName("traceparent").Number()
	requestChunks    = (&recordingsv1.AppendChunksRequest{}).ProtoReflect().Descriptor().Fields().ByName("chunks").Number()
)

// scanChunk checks that b is a well-formed message at its top level and
// returns its traceparent.
func scanChunk(b []byte) (string, error) {
	var tp string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", fmt.Errorf("forwarder: chunk: %w", protowire.ParseError(n))
		}
		if num == chunkTraceparent && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 {
				return "", fmt.Errorf("forwarder: chunk traceparent: %w", protowire.ParseError(m))
			}
			tp = string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", fmt.Errorf("forwarder: chunk field %d: %w", num, protowire.ParseError(m))
		}
		b = b[n+m:]
	}
	return tp, nil
}

// request assembles AppendChunksRequest from the encoded chunks: they go
// in as the request's unknown fields, which the encoder writes out as they
// are — the same bytes as a repeated chunks field, without decoding each
// chunk and encoding it again. buf is reused between calls.
func (f *Forwarder) request(chunks []chunk) *recordingsv1.AppendChunksRequest {
	n := 0
	for _, c := range chunks {
		n += protowire.SizeTag(requestChunks) + protowire.SizeBytes(len(c.raw))
	}
	if cap(f.buf) < n || cap(f.buf) > 4*n+64<<10 {
		f.buf = make([]byte, 0, n)
	}
	b := f.buf[:0]
	for _, c := range chunks {
		b = protowire.AppendTag(b, requestChunks, protowire.BytesType)
		b = protowire.AppendBytes(b, c.raw)
	}
	req := &recordingsv1.AppendChunksRequest{}
	req.ProtoReflect().SetUnknown(b)
	return req
}

func (f *Forwarder) send(ctx context.Context, chunks []chunk, attempt int) error {
	links := make([]trace.Link, 0, len(chunks))
	for _, c := range chunks {
		if c.traceparent == "" {
			continue
		}
		sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": c.traceparent}))
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := f.Tracer.Start(ctx, "ingest.forward AppendChunks", trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("ingest.chunks", len(chunks)), attribute.Int("ingest.attempt", attempt)))
	defer span.End()
	cctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	resp, err := f.Client.AppendChunks(cctx, f.request(chunks))
	if err == nil && int(resp.GetStored())+int(resp.GetDuplicates()) != len(chunks) {
		// Recordings accounts for every chunk it was sent. Fewer means
		// they did not arrive as chunks (say, a transport that copies
		// messages without encoding them would not carry the pre-encoded
		// field): keep them in the spool and retry rather than lose them.
		err = fmt.Errorf("recordings accounted for %d stored + %d duplicate chunks of %d sent", resp.GetStored(), resp.GetDuplicates(), len(chunks))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("forwarder: append chunks: timeout: %w", err)
		}
		return fmt.Errorf("forwarder: append chunks: %w", err)
	}
	return nil
}
