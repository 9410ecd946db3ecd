package search

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/svc-search/index"
)

// An answers page token is a cursor bound to its query, in the sessions'
// token layout with its own version byte (so one kind of token is never
// taken for the other):
//
//	byte 0     format version (answerTokenVersion)
//	byte 1     flags (bit 0: ascending)
//	bytes 2-9  FNV-64a of the site id and the deterministic filter bytes
//	varint     zig-zag client time (Unix ns)
//	rest       answer id (UTF-8, at most maxStringBytes)
//
// Like the sessions' token it carries no secret: it names a position in the
// asking site's own list, and the index applies the site whatever it says.
const (
	answerTokenVersion   = 0xa1
	answerTokenHeaderLen = 10
)

type answerToken struct {
	ascending bool
	queryHash uint64
	cursor    index.AnswerCursor
}

func answerQueryHash(siteID int64, f *searchv1.AnswerFilter) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(siteID))
	h.Write(b[:])
	if f != nil {
		raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
		h.Write(raw)
	}
	return h.Sum64()
}

func encodeAnswerToken(t answerToken) string {
	buf := make([]byte, 0, answerTokenHeaderLen+binary.MaxVarintLen64+len(t.cursor.ID))
	flags := byte(0)
	if t.ascending {
		flags = 1
	}
	buf = append(buf, answerTokenVersion, flags)
	buf = binary.BigEndian.AppendUint64(buf, t.queryHash)
	buf = binary.AppendVarint(buf, t.cursor.Time)
	buf = append(buf, t.cursor.ID...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

func decodeAnswerToken(s string) (answerToken, error) {
	if len(s) > maxTokenChars {
		return answerToken{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < answerTokenHeaderLen+1 || raw[0] != answerTokenVersion || raw[1]&^1 != 0 {
		return answerToken{}, errBadToken
	}
	t := answerToken{ascending: raw[1] == 1, queryHash: binary.BigEndian.Uint64(raw[2:10])}
	v, n := binary.Varint(raw[answerTokenHeaderLen:])
	if n <= 0 || v < 0 {
		return answerToken{}, errBadToken
	}
	id := raw[answerTokenHeaderLen+n:]
	if len(id) == 0 || len(id) > maxStringBytes || !utf8.Valid(id) {
		return answerToken{}, errBadToken
	}
	t.cursor = index.AnswerCursor{Time: v, ID: string(id)}
	return t, nil
}
