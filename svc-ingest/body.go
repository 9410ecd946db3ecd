package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readRequest checks the body's type, encoding and declared length, then
// reads it within lim.
func (s *Service) readRequest(b *batch, lim bodyLimits) ([]byte, *answer) {
	ctx, r := b.ctx, b.r
	enc, a := bodyEncoding(r, b.query)
	if a != nil {
		return nil, a
	}
	if r.ContentLength > lim.raw {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "%s of %d bytes exceeds %d", lim.noun, r.ContentLength, lim.raw)
		return nil, &a
	}
	b.buf = bufPool.Get().(*bytes.Buffer)
	return s.readBody(ctx, r, enc, b.buf, lim)
}

// bodyEncoding checks the request's Content-Type and returns its encoding
// (Content-Encoding or ?ce=).
func bodyEncoding(r *http.Request, q url.Values) (string, *answer) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "", "text/plain", "application/json", "application/octet-stream":
	default:
		return "", &answer{code: http.StatusUnsupportedMediaType, msg: "unsupported Content-Type " + strconv.Quote(ct) + " (use text/plain, application/json or application/octet-stream)"}
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if ce := strings.ToLower(q.Get("ce")); ce != "" {
		if enc != "" && enc != "identity" && enc != ce {
			return "", &answer{code: http.StatusUnsupportedMediaType, msg: "Content-Encoding and ?ce= disagree"}
		}
		enc = ce
	}
	switch enc {
	case "", "identity", "gzip", "deflate":
	default:
		return "", &answer{code: http.StatusUnsupportedMediaType, msg: "unsupported encoding " + strconv.Quote(enc) + " (use gzip or deflate)"}
	}
	return enc, nil
}

var (
	gzipPool sync.Pool
	zlibPool sync.Pool
)

// bodyLimits bound a body as sent and after decompression, with the limit
// names their hits are counted under.
type bodyLimits struct {
	raw, decompressed         int64
	rawName, decompressedName string
	noun                      string // what a refusal calls the body
}

// readBody reads the body (at most lim.raw bytes as sent) and decompresses
// it (at most lim.decompressed: the limit applies to the decompressor's
// output, so a gzip bomb costs no more than that).
func (s *Service) readBody(ctx context.Context, r *http.Request, enc string, buf *bytes.Buffer, lim bodyLimits) ([]byte, *answer) {
	raw := buf
	if enc == "gzip" || enc == "deflate" {
		raw = bufPool.Get().(*bytes.Buffer)
		defer func() { raw.Reset(); bufPool.Put(raw) }()
	}
	n, err := readCapped(raw, r.Body, lim.raw)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			a := s.refuse(ctx, http.StatusRequestTimeout, "body_read_timeout", 0, "the body did not arrive within %s", s.bodyDeadline(r.ContentLength, lim.raw).Round(time.Millisecond))
			return nil, &a
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "body too large")
			return nil, &a
		}
		return nil, &answer{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if n > lim.raw {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.rawName, 0, "body exceeds %d bytes", lim.raw)
		return nil, &a
	}
	if raw == buf {
		return buf.Bytes(), nil
	}
	var dec io.Reader
	switch enc {
	case "gzip":
		zr, _ := gzipPool.Get().(*gzip.Reader)
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(raw.Bytes()))
		} else {
			err = zr.Reset(bytes.NewReader(raw.Bytes()))
		}
		if err != nil {
			return nil, &answer{code: http.StatusBadRequest, msg: "invalid gzip body: " + err.Error()}
		}
		zr.Multistream(false)
		defer gzipPool.Put(zr)
		dec = zr
	case "deflate":
		// HTTP's "deflate" (and CompressionStream("deflate")) is zlib.
		zr, _ := zlibPool.Get().(io.ReadCloser)
		if zr == nil {
			zr, err = zlib.NewReader(bytes.NewReader(raw.Bytes()))
		} else {
			err = zr.(zlib.Resetter).Reset(bytes.NewReader(raw.Bytes()), nil)
		}
		if err != nil {
			return nil, &answer{code: http.StatusBadRequest, msg: "invalid deflate (zlib) body: " + err.Error()}
		}
		defer zlibPool.Put(zr)
		dec = zr
	}
	n, err = readCapped(buf, dec, lim.decompressed)
	if n > lim.decompressed {
		a := s.refuse(ctx, http.StatusRequestEntityTooLarge, lim.decompressedName, 0, "decompressed body exceeds %d bytes", lim.decompressed)
		return nil, &a
	}
	if err != nil {
		return nil, &answer{code: http.StatusBadRequest, msg: "corrupt " + enc + " body: " + err.Error()}
	}
	return buf.Bytes(), nil
}

// bodyDeadline is how long a body of the declared length (-1: unknown; at
// most limit) may take to arrive: a base plus a share of
// ingest.body-read-timeout proportionate to its size, so small beacons are
// not held to the pace of the largest body, and a trickling client is cut
// well before the server's read timeout.
func (s *Service) bodyDeadline(declared, limit int64) time.Duration {
	full := s.cfg.BodyReadTimeout
	base := min(5*time.Second, full)
	size := min(limit, s.cfg.MaxBodyBytes)
	if declared >= 0 && declared < size {
		size = declared
	}
	return base + time.Duration(float64(full)*float64(size)/float64(s.cfg.MaxBodyBytes))
}

// readCapped reads r into buf (empty; its storage is reused) until EOF or
// until more than limit bytes have arrived. The storage grows with the bytes
// actually received — doubling from minRead, never past limit+1 — so a
// client that declares a large body and sends little costs little.
func readCapped(buf *bytes.Buffer, r io.Reader, limit int64) (int64, error) {
	const minRead = 4 << 10
	p := buf.AvailableBuffer()
	var err error
	for {
		if len(p) == cap(p) {
			if int64(len(p)) > limit {
				break // limit+1 bytes: the caller answers 413
			}
			np := make([]byte, len(p), min(max(2*cap(p), minRead), int(limit+1)))
			copy(np, p)
			p = np
		}
		var m int
		m, err = r.Read(p[len(p):cap(p)])
		p = p[:len(p)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	*buf = *bytes.NewBuffer(p)
	return int64(len(p)), err
}
