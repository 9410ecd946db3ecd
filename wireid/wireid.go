// Package wireid is the format of the ids that cross the wire: the
// tracker's session (s_), visitor (v_), page view (p_) and answer (a_) ids
// and the public site keys (k_): a short prefix and URL-safe characters,
// [A-Za-z0-9_-] (base64url without padding), at most MaxLen bytes. Ingest,
// recordings and accounts check them with the same rule, so an id one
// service accepts is one the next one stores.
package wireid

// Bounds of a tracker id, in bytes (the prefix included).
const (
	MinLen = 8
	MaxLen = 64
)

// URLSafe reports whether every byte of s is one of [A-Za-z0-9_-].
func URLSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		safe := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !safe {
			return false
		}
	}
	return true
}

// Valid reports whether s is a tracker id: MinLen to MaxLen bytes of
// [A-Za-z0-9_-].
func Valid(s string) bool {
	return len(s) >= MinLen && len(s) <= MaxLen && URLSafe(s)
}
