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

// A page token is a cursor bound to its query (cursorToken with a head of
// the sort field and the flags):
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
	tokenVersion  = 1
	maxTokenChars = 1024
)

var errBadToken = errors.New("page_token is malformed")

// pageToken is a decoded page token.
type pageToken struct {
	sort      searchv1.SortField
	ascending bool
	queryHash uint64
	cursor    index.Cursor
}

// queryHash binds a token to the site and filter it was issued for (f is
// the sessions' or the answers' filter; nil hashes as empty).
func queryHash(siteID int64, f proto.Message) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(siteID))
	h.Write(b[:])
	// Deterministic marshalling is stable within one binary; a token that
	// outlives an upgrade at worst is refused as foreign.
	raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	h.Write(raw)
	return h.Sum64()
}

// cursorToken is the layout every page token (sessions, answers, funnel
// sessions) shares, base64url without padding:
//
//	byte 0     format version (one per kind of token)
//	head       the kind's own bytes (sort field, flags), fixed length
//	8 bytes    FNV-64a of the query (big-endian)
//	varint     zig-zag sort value
//	rest       id (UTF-8, 1 to maxStringBytes bytes)
type cursorToken struct {
	head  []byte
	hash  uint64
	value int64
	id    string
}

func (t cursorToken) encode(version byte) string {
	buf := make([]byte, 0, 1+len(t.head)+8+binary.MaxVarintLen64+len(t.id))
	buf = append(append(buf, version), t.head...)
	buf = binary.BigEndian.AppendUint64(buf, t.hash)
	buf = binary.AppendVarint(buf, t.value)
	buf = append(buf, t.id...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// decodeCursorToken parses a token of version with a head of headLen
// bytes; any malformed input is errBadToken. The kind checks its head.
func decodeCursorToken(s string, version byte, headLen int) (cursorToken, error) {
	if len(s) > maxTokenChars {
		return cursorToken{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	hashEnd := 1 + headLen + 8
	if err != nil || len(raw) < hashEnd+1 || raw[0] != version {
		return cursorToken{}, errBadToken
	}
	v, n := binary.Varint(raw[hashEnd:])
	if n <= 0 {
		return cursorToken{}, errBadToken
	}
	id := raw[hashEnd+n:]
	if len(id) == 0 || len(id) > maxStringBytes || !utf8.Valid(id) {
		return cursorToken{}, errBadToken
	}
	return cursorToken{head: raw[1 : 1+headLen], hash: binary.BigEndian.Uint64(raw[1+headLen : hashEnd]), value: v, id: string(id)}, nil
}

// ascendingFlag is the flags byte of a token's order (bit 0: ascending).
func ascendingFlag(ascending bool) byte {
	if ascending {
		return 1
	}
	return 0
}

func encodeToken(t pageToken) string {
	return cursorToken{head: []byte{byte(t.sort), ascendingFlag(t.ascending)}, hash: t.queryHash, value: t.cursor.Value, id: t.cursor.SessionID}.encode(tokenVersion)
}

// decodeToken parses a page token; any malformed input is errBadToken.
func decodeToken(s string) (pageToken, error) {
	c, err := decodeCursorToken(s, tokenVersion, 2)
	if err != nil || c.head[1]&^1 != 0 {
		return pageToken{}, errBadToken
	}
	sort := searchv1.SortField(c.head[0])
	if _, ok := searchv1.SortField_name[int32(sort)]; !ok {
		return pageToken{}, errBadToken
	}
	return pageToken{sort: sort, ascending: c.head[1] == 1, queryHash: c.hash, cursor: index.Cursor{Value: c.value, SessionID: c.id}}, nil
}
