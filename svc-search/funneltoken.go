package search

import (
	"hash/fnv"
	"time"

	"google.golang.org/protobuf/proto"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// A funnel-sessions page token is a cursor bound to its query, in the
// sessions' token layout (cursorToken, no head) with its own version byte
// (so no other kind of token is taken for it):
//
//	byte 0     format version (funnelTokenVersion)
//	bytes 1-8  FNV-64a of the request without its page size and token
//	varint     zig-zag session start (Unix ns)
//	rest       session id (UTF-8, at most maxStringBytes)
//
// It carries no secret: it names a position in the asking site's own list,
// and the store applies the site whatever it says.
const funnelTokenVersion = 0xf1

// funnelQueryHash binds a token to the site, steps, range, devices, step
// and drop-off choice it was issued for.
func funnelQueryHash(req *trafficv1.ListFunnelSessionsRequest) uint64 {
	q := proto.Clone(req).(*trafficv1.ListFunnelSessionsRequest)
	q.PageSize, q.PageToken = 0, ""
	raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(q)
	h := fnv.New64a()
	h.Write(raw)
	return h.Sum64()
}

func encodeFunnelToken(hash uint64, c traffic.FunnelCursor) string {
	return cursorToken{hash: hash, value: c.Start.UnixNano(), id: c.SessionID}.encode(funnelTokenVersion)
}

// decodeFunnelToken parses a token; any malformed input is errBadToken.
func decodeFunnelToken(s string) (uint64, traffic.FunnelCursor, error) {
	c, err := decodeCursorToken(s, funnelTokenVersion, 0)
	if err != nil || c.value < 0 {
		return 0, traffic.FunnelCursor{}, errBadToken
	}
	return c.hash, traffic.FunnelCursor{Start: time.Unix(0, c.value).UTC(), SessionID: c.id}, nil
}
