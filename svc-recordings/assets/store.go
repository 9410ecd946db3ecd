package assets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sightlinehq/sightline/blob"
)

// Key layout in the blob store, per site:
//
//	sites/<site>/objects/<sha256>     the bytes as served (content-addressed)
//	sites/<site>/urls/<sha256(url)>   Record (JSON): which object a URL is
//	sites/<site>/css/<sha256>         cssMeta (JSON): a stylesheet's base URL
//
// Objects are shared by every URL of the site that served the same bytes;
// the sweep deletes records not seen within retention and then objects no
// record names.

// Record is what recordings knows of one URL of a site.
type Record struct {
	URL         string    `json:"url"`
	Hash        string    `json:"hash"`
	ContentType string    `json:"type"`
	Size        int64     `json:"size"`
	Fetched     time.Time `json:"fetched"`
	LastSeen    time.Time `json:"seen"`
	// RetentionDays is the site's retention when the URL was last seen.
	RetentionDays int `json:"retention,omitempty"`
}

type cssMeta struct {
	// Base is the URL the stylesheet was served from (after redirects):
	// its relative references resolve against it.
	Base string `json:"base"`
}

func siteKey(site int64) string { return "sites/" + strconv.FormatInt(site, 10) + "/" }

func objectKey(site int64, hash string) string { return siteKey(site) + "objects/" + hash }

func cssKey(site int64, hash string) string { return siteKey(site) + "css/" + hash }

func urlKey(site int64, u string) string {
	sum := sha256.Sum256([]byte(u))
	return siteKey(site) + "urls/" + hex.EncodeToString(sum[:])
}

// ValidHash reports whether h is a lower-case hex SHA-256.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// objects is the blob store with per-site byte accounting.
type objects struct {
	blobs blob.Store

	mu    sync.Mutex
	usage map[int64]int64 // bytes of objects per site, once counted
}

func (o *objects) getJSON(ctx context.Context, key string, v any) error {
	rc, _, err := o.blobs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return fmt.Errorf("assets: read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("assets: decode %s: %w", key, err)
	}
	return nil
}

func (o *objects) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return o.blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json")
}

// record reads a URL's record (blob.ErrNotFound when there is none).
func (o *objects) record(ctx context.Context, site int64, u string) (Record, error) {
	var r Record
	if err := o.getJSON(ctx, urlKey(site, u), &r); err != nil {
		return r, err
	}
	if r.URL != u || !ValidHash(r.Hash) {
		// A hash collision of keys, or a damaged record: not this URL's.
		return r, blob.ErrNotFound
	}
	return r, nil
}

// siteUsage returns the bytes a site's objects take, counting them once.
func (o *objects) siteUsage(ctx context.Context, site int64) (int64, error) {
	o.mu.Lock()
	n, ok := o.usage[site]
	o.mu.Unlock()
	if ok {
		return n, nil
	}
	var total int64
	for info, err := range o.blobs.List(ctx, siteKey(site)+"objects/") {
		if err != nil {
			return 0, fmt.Errorf("assets: count site %d: %w", site, err)
		}
		total += info.Size
	}
	o.mu.Lock()
	if cur, ok := o.usage[site]; ok {
		total = cur // counted meanwhile by a writer
	} else {
		o.usage[site] = total
	}
	o.mu.Unlock()
	return total, nil
}

func (o *objects) addUsage(site, n int64) {
	o.mu.Lock()
	if _, ok := o.usage[site]; ok {
		o.usage[site] += n
	}
	o.mu.Unlock()
}

func (o *objects) setUsage(site, n int64) {
	o.mu.Lock()
	o.usage[site] = n
	o.mu.Unlock()
}

// errOverQuota is a new object that would take a site past its byte limit.
var errOverQuota = errors.New("assets: the site's asset storage is full")

// putObject stores body under its hash unless it is there already; stored
// tells which. limit is the site's byte limit.
func (o *objects) putObject(ctx context.Context, site int64, hash, ctype string, body []byte, limit int64) (stored bool, err error) {
	key := objectKey(site, hash)
	if _, err := o.blobs.Stat(ctx, key); err == nil {
		return false, nil
	} else if !errors.Is(err, blob.ErrNotFound) {
		return false, err
	}
	if _, err := o.siteUsage(ctx, site); err != nil {
		return false, err
	}
	// Check and reserve in one step: concurrent captures of one site must
	// not all fit under the limit they would pass together.
	n := int64(len(body))
	o.mu.Lock()
	if o.usage[site]+n > limit {
		o.mu.Unlock()
		return false, errOverQuota
	}
	o.usage[site] += n
	o.mu.Unlock()
	if err := o.blobs.Put(ctx, key, bytes.NewReader(body), n, ctype); err != nil {
		o.addUsage(site, -n)
		return false, err
	}
	return true, nil
}

// siteIDs lists the sites that have anything stored.
func (o *objects) siteIDs(ctx context.Context) ([]int64, error) {
	var out []int64
	last := int64(-1)
	for info, err := range o.blobs.List(ctx, "sites/") {
		if err != nil {
			return nil, err
		}
		rest := strings.TrimPrefix(info.Key, "sites/")
		id, _, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n == last {
			continue
		}
		out, last = append(out, n), n
	}
	return out, nil
}

// sweepSite deletes the site's records not seen within their retention,
// then objects (and stylesheet metadata) that no record names and that are
// older than grace (a capture writes its object before its record). It
// returns what it deleted.
func (o *objects) sweepSite(ctx context.Context, site int64, now time.Time, defaultDays int, grace time.Duration) (records, objs int, err error) {
	// Keys are collected first and deleted after each listing: a backend's
	// listing need not survive deletions under it.
	referenced := map[string]bool{}
	var doomed []string
	for info, lerr := range o.blobs.List(ctx, siteKey(site)+"urls/") {
		if lerr != nil {
			return 0, 0, lerr
		}
		var r Record
		if gerr := o.getJSON(ctx, info.Key, &r); gerr != nil {
			if !errors.Is(gerr, blob.ErrNotFound) {
				doomed = append(doomed, info.Key) // undecodable: names nothing
			}
			continue
		}
		days := r.RetentionDays
		if days <= 0 {
			days = defaultDays
		}
		if now.Sub(r.LastSeen) > time.Duration(days)*24*time.Hour {
			doomed = append(doomed, info.Key)
			continue
		}
		referenced[r.Hash] = true
	}
	for _, k := range doomed {
		if err := o.blobs.Delete(ctx, k); err != nil {
			return records, 0, err
		}
		records++
	}
	var total int64
	for _, dir := range []string{"objects/", "css/"} {
		doomed = doomed[:0]
		for info, lerr := range o.blobs.List(ctx, siteKey(site)+dir) {
			if lerr != nil {
				return records, objs, lerr
			}
			hash := info.Key[strings.LastIndexByte(info.Key, '/')+1:]
			if referenced[hash] || now.Sub(info.ModTime) < grace {
				if dir == "objects/" {
					total += info.Size
				}
				continue
			}
			doomed = append(doomed, info.Key)
		}
		for _, k := range doomed {
			if err := o.blobs.Delete(ctx, k); err != nil {
				return records, objs, err
			}
			if dir == "objects/" {
				objs++
			}
		}
	}
	o.setUsage(site, total)
	return records, objs, nil
}
