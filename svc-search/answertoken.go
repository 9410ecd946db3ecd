package search

import (
	"github.com/sightlinehq/sightline/svc-search/index"
)

// An answers page token is a cursor bound to its query, in the sessions'
// token layout (cursorToken) with its own version byte (so one kind of token is never
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
const answerTokenVersion = 0xa1

type answerToken struct {
	ascending bool
	queryHash uint64
	cursor    index.AnswerCursor
}

func encodeAnswerToken(t answerToken) string {
	return cursorToken{head: []byte{ascendingFlag(t.ascending)}, hash: t.queryHash, value: t.cursor.Time, id: t.cursor.ID}.encode(answerTokenVersion)
}

func decodeAnswerToken(s string) (answerToken, error) {
	c, err := decodeCursorToken(s, answerTokenVersion, 1)
	if err != nil || c.head[0]&^1 != 0 || c.value < 0 {
		return answerToken{}, errBadToken
	}
	return answerToken{ascending: c.head[0] == 1, queryHash: c.hash, cursor: index.AnswerCursor{Time: c.value, ID: c.id}}, nil
}
