// Package blob is the contract of Sightline's object storage: named,
// immutable-once-written byte objects with a content type, listed by key
// prefix. Recordings keeps its captured page assets (stylesheets, fonts,
// images) in it.
//
// Backends: blob/fsblob (files on disk, the embedded mode) and blob/s3blob
// (any S3-compatible server). Both pass blob/blobtest.Run. blob/blobotel
// wraps either with OpenTelemetry spans and metrics.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// ErrNotFound is returned for a key that holds no object.
var ErrNotFound = errors.New("blob: not found")

// ErrBadKey is returned for a key the store does not accept (see ValidKey).
var ErrBadKey = errors.New("blob: bad key")

// MaxKeyLen is the longest key accepted.
const MaxKeyLen = 512

// MaxContentTypeLen is the longest content type accepted.
const MaxContentTypeLen = 255

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	// ModTime is when the object was last written.
	ModTime time.Time
}

// Store holds objects by key. Keys are slash-separated paths of the
// characters ValidKey accepts. Implementations are safe for concurrent use.
type Store interface {
	// Put writes the object at key, replacing any object there. It returns
	// only once the object is durable; a reader never sees a partial object.
	// size is the number of bytes r yields (-1 when unknown); a reader
	// that yields more or fewer fails the Put. contentType is at most
	// MaxContentTypeLen bytes of printable ASCII; "" is stored as
	// "application/octet-stream".
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object at key, or returns ErrNotFound. The caller closes
	// the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat describes the object at key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object at key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose keys start with prefix, in key order.
	// An error ends the sequence. The Infos carry no ContentType (S3
	// listings do not have it): Stat for it.
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
	// Close releases the store's resources.
	Close() error
}

// ValidContentType reports whether ct is acceptable as a content type:
// at most MaxContentTypeLen bytes of printable ASCII (it travels in HTTP
// headers).
func ValidContentType(ct string) bool {
	if len(ct) > MaxContentTypeLen {
		return false
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidKey reports whether key is acceptable to every backend: 1 to
// MaxKeyLen bytes of [A-Za-z0-9._-] segments separated by single slashes,
// no segment "." or "..", no leading or trailing slash.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	seg := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			s := key[i-seg : i]
			if seg == 0 || s == "." || s == ".." {
				return false
			}
			seg = 0
			continue
		}
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
		seg++
	}
	return true
}

// CheckPut checks a Put's arguments for a backend (named in errors) whose
// objects are at most max bytes, and returns the content type to store.
func CheckPut(backend, key string, size int64, contentType string, max int64) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%s: %q: %w", backend, key, ErrBadKey)
	}
	if !ValidContentType(contentType) {
		return "", fmt.Errorf("%s: put %s: content type not %d bytes of printable ASCII", backend, key, MaxContentTypeLen)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if size < -1 {
		return "", fmt.Errorf("%s: put %s: size %d", backend, key, size)
	}
	if size > max {
		return "", fmt.Errorf("%s: put %s: %d bytes, over the limit of %d", backend, key, size, max)
	}
	return contentType, nil
}
