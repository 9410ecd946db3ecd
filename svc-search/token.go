package search

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// A page token is a cursor bound to its query:
//
//	byte 0     format version (1)
//	byte 1     sort field
//	byte 2     flags (bit 0: ascending)
//	bytes 3-10 FNV-64a of the site id and the deterministic filter bytes
//	varint     zig-zag sort value
//	rest       session id (UTF-8, at most maxStringBytes)
//
// base64url without padding. It carries no secret: it only names a position
// in the asking site's own result list, and the site filter is applied by the
// index whatever the token says.
const (
	tokenVersion   = 1
	maxTokenChars  = 1024
	tokenHeaderLen = 11
)

var errBadToken = errors.New("page_token is malformed")

// pageToken is a decoded page token.
type pageToken struct {
	sort      searchv1.SortField
	ascending bool
	queryHash uint64
	cursor    index.Cursor
}

// queryHash binds a token to the site and filter it was issued for.
func queryHash(siteID int64, f *searchv1.SessionFilter) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(siteID))
	h.Write(b[:])
	if f != nil {
		// Deterministic marshalling is stable within one binary; a token
		// that outlives an upgrade at worst is refused as foreign.
		raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
		h.Write(raw)
	}
	return h.Sum64()
}

func encodeToken(t pageToken) string {
	buf := make([]byte, 0, tokenHeaderLen+binary.MaxVarintLen64+len(t.cursor.SessionID))
	flags := byte(0)
	if t.ascending {
		flags = 1
	}
	buf = append(buf, tokenVersion, byte(t.sort), flags)
	buf = binary.BigEndian.AppendUint64(buf, t.queryHash)
	buf = binary.AppendVarint(buf, t.cursor.Value)
	buf = append(buf, t.cursor.SessionID...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeToken parses a page token; any malformed input is errBadToken.
func decodeToken(s string) (pageToken, error) {
	if len(s) > maxTokenChars {
		return pageToken{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < tokenHeaderLen+1 || raw[0] != tokenVersion || raw[2]&^1 != 0 {
		return pageToken{}, errBadToken
	}
	sort := searchv1.SortField(raw[1])
	if _, ok := searchv1.SortField_name[int32(sort)]; !ok {
		return pageToken{}, errBadToken
	}
	t := pageToken{sort: sort, ascending: raw[2] == 1, queryHash: binary.BigEndian.Uint64(raw[3:11])}
	v, n := binary.Varint(raw[tokenHeaderLen:])
	if n <= 0 {
		return pageToken{}, errBadToken
	}
	id := raw[tokenHeaderLen+n:]
	if len(id) == 0 || len(id) > maxStringBytes || !utf8.Valid(id) {
		return pageToken{}, errBadToken
	}
	t.cursor = index.Cursor{Value: v, SessionID: string(id)}
	return t, nil
}
