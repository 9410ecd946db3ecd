package batch

import (
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

// Fill sets the chunk fields that come from the envelope; the caller sets
// the rest (site, server time, client, traceparent, retention). clientTime
// and viewport are the caller's storage for those messages (ingest pools
// them), used only when the envelope has them.
func (e *Envelope) Fill(c *recordingsv1.Chunk, clientTime *timestamppb.Timestamp, viewport *recordingsv1.Viewport) {
	c.SessionId, c.VisitorId, c.PageViewId, c.Seq = e.SessionID, e.VisitorID, e.PageViewID, e.Seq
	c.Url, c.Referrer = e.URL, e.Referrer
	c.Events, c.EventCount, c.Truncated = e.Events, int32(e.EventCount), e.Truncated
	if e.ClientTime > 0 {
		ct := time.UnixMilli(e.ClientTime)
		clientTime.Seconds, clientTime.Nanos = ct.Unix(), int32(ct.Nanosecond())
		c.ClientTime = clientTime
	}
	if e.ViewportW > 0 || e.ViewportH > 0 {
		viewport.Width, viewport.Height = e.ViewportW, e.ViewportH
		c.Viewport = viewport
	}
}

// CheckChunk applies the contract to a stored chunk: its fields
// (CheckChunkFields) and its events (ValidateEvents).
func CheckChunk(c *recordingsv1.Chunk) error {
	if err := CheckChunkFields(c); err != nil {
		return err
	}
	return ValidateEvents(c.GetEvents())
}

// CheckChunkFields applies the contract to a chunk's fields but not to its
// events: a reader that goes through the events with Events (which checks
// each one) calls this instead of CheckChunk to read them only once.
func CheckChunkFields(c *recordingsv1.Chunk) error {
	switch {
	case c == nil:
		return errf("chunk missing")
	case c.GetSiteId() <= 0:
		return errf("site_id must be positive")
	case c.GetOrganizationId() < 0:
		return errf("organization_id must not be negative")
	case c.GetSeq() < 0 || c.GetSeq() > MaxSafeInteger:
		return errf("seq must be between 0 and %d", int64(MaxSafeInteger))
	case len(c.GetUrl()) > MaxURLBytes || len(c.GetReferrer()) > MaxURLBytes:
		return errf("url and referrer must be at most %d bytes", MaxURLBytes)
	case !utf8.ValidString(c.GetUrl()) || !utf8.ValidString(c.GetReferrer()):
		return errf("url and referrer must be valid UTF-8")
	case len(c.GetEvents()) == 0:
		return errf("events must not be empty")
	case c.GetViewport().GetWidth() < 0 || c.GetViewport().GetWidth() > MaxViewport ||
		c.GetViewport().GetHeight() < 0 || c.GetViewport().GetHeight() > MaxViewport:
		return errf("viewport must be between 0 and %d", MaxViewport)
	}
	if err := checkIDs(c.GetSessionId(), c.GetVisitorId(), c.GetPageViewId()); err != nil {
		return err
	}
	if t := c.GetClientTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return errf("client_time is not a valid timestamp")
		}
		if ms := t.AsTime().UnixMilli(); ms < 0 || ms > MaxTimestampMs {
			return errf("client_time must be between 0 and %d ms since the epoch", int64(MaxTimestampMs))
		}
	}
	if t := c.GetServerTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return errf("server_time is not a valid timestamp")
		}
	}
	return nil
}
