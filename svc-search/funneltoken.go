package search

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/svc-search/traffic"
)

// A funnel-sessions page token is a cursor bound to its query, in the
// sessions' token layout with its own version byte (so no other kind of
// token is taken for it):
//
//	byte 0     format version (funnelTokenVersion)
//	bytes 1-8  FNV-64a of the request without its page size and token
//	varint     zig-zag session start (Unix ns)
//	rest       session id (UTF-8, at most maxStringBytes)
//
// It carries no secret: it names a position in the asking site's own list,
// and the store applies the site whatever it says.
const (
	funnelTokenVersion   = 0xf1
	funnelTokenHeaderLen = 9
)

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
	buf := make([]byte, 0, funnelTokenHeaderLen+binary.MaxVarintLen64+len(c.SessionID))
	buf = append(buf, funnelTokenVersion)
	buf = binary.BigEndian.AppendUint64(buf, hash)
	buf = binary.AppendVarint(buf, c.Start.UnixNano())
	buf = append(buf, c.SessionID...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeFunnelToken parses a token; any malformed input is errBadToken.
func decodeFunnelToken(s string) (uint64, traffic.FunnelCursor, error) {
	if len(s) > maxTokenChars {
		return 0, traffic.FunnelCursor{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < funnelTokenHeaderLen+1 || raw[0] != funnelTokenVersion {
		return 0, traffic.FunnelCursor{}, errBadToken
	}
	hash := binary.BigEndian.Uint64(raw[1:funnelTokenHeaderLen])
	v, n := binary.Varint(raw[funnelTokenHeaderLen:])
	if n <= 0 || v < 0 {
		return 0, traffic.FunnelCursor{}, errBadToken
	}
	id := raw[funnelTokenHeaderLen+n:]
	if len(id) == 0 || len(id) > maxStringBytes || !utf8.Valid(id) {
		return 0, traffic.FunnelCursor{}, errBadToken
	}
	return hash, traffic.FunnelCursor{Start: time.Unix(0, v).UTC(), SessionID: string(id)}, nil
}
