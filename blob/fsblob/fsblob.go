// Package fsblob is the blob.Store of the embedded mode: one file per
// object under a root directory.
//
// Layout of the root directory:
//
//	LOCK      held (flock) by the one process that has the store open
//	tmp/      objects being written; emptied by Open
//	objects/  one file per object: key "a/b/c.css" is objects/a/b/c.css@
//
// Object files end in "@", a byte keys cannot contain, so key "a" (file
// "a@") and keys below "a/" (directory "a") never collide.
//
// Each object file starts with a fixed 512-byte header (so List can size
// objects from the directory entry alone, without opening them):
//
//	0   8 bytes   magic "SLBLOB1\n"
//	8   8 bytes   object size, big-endian
//	16  2 bytes   length of the content type, big-endian
//	18  ...       the content type (at most blob.MaxContentTypeLen bytes), zero padded
//	512           the object's bytes
//
// The modification time is the file's. A Put writes a temp file in tmp/,
// fsyncs it, renames it into place (rename is atomic, and tmp/ is on the
// same file system by construction) and fsyncs the target directory (and
// the parents of directories it created): a reader sees the old object or
// the new one, never a part, and the new one survives a crash once Put
// returns. Temp files live in tmp/ rather than beside their objects so that
// Open can remove the leftovers of a crash without walking every object.
package fsblob

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/sightlinehq/sightline/blob"
	"github.com/sightlinehq/sightline/platform/durablefile"
)

const (
	headerLen = 512
	magic     = "SLBLOB1\n"
	objSuffix = "@"
	// DefaultMaxObjectBytes bounds one object when Options.MaxObjectBytes
	// is zero.
	DefaultMaxObjectBytes = 256 << 20
)

// Options configures Open.
type Options struct {
	// Dir is the root directory; it is created when missing.
	Dir string
	// MaxObjectBytes is the largest object Put accepts (0: the default).
	MaxObjectBytes int64
}

// Store is a blob.Store on the local file system.
type Store struct {
	root    string
	objects string
	tmp     string
	max     int64
	lock    *os.File
	gate    blob.Gate
}

var _ blob.Store = (*Store)(nil)

// Open opens (creating when missing) the store in opts.Dir, takes its lock
// and removes the temp files a crash left behind. A directory is open in one
// Store at a time.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("fsblob: no directory")
	}
	root, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	s := &Store{
		gate:    blob.Gate{Name: "fsblob"},
		root:    root,
		objects: filepath.Join(root, "objects"),
		tmp:     filepath.Join(root, "tmp"),
		max:     opts.MaxObjectBytes,
	}
	if s.max <= 0 {
		s.max = DefaultMaxObjectBytes
	}
	for _, d := range []string{root, s.objects, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("fsblob: create %s: %w", d, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(root, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("fsblob: lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("fsblob: %s is open in another store: %w", root, err)
	}
	s.lock = lock
	// Nothing else writes tmp/ while we hold the lock: whatever is there
	// is a Put that never finished.
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("fsblob: read %s: %w", s.tmp, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			lock.Close()
			return nil, fmt.Errorf("fsblob: remove leftover temp file: %w", err)
		}
	}
	if len(ents) > 0 {
		if err := durablefile.SyncDir(s.tmp); err != nil {
			lock.Close()
			return nil, err
		}
	}
	if err := durablefile.SyncDir(root); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the directory's lock.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	return s.lock.Close() // closing the descriptor drops the flock
}

// path is the object file of a valid key.
func (s *Store) path(key string) string {
	return filepath.Join(s.objects, filepath.FromSlash(key)) + objSuffix
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	contentType, err := s.gate.CheckPut(ctx, key, size, contentType, s.max)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Seek(headerLen, io.SeekStart); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	limit := s.max + 1
	if size >= 0 {
		limit = size + 1 // one byte more tells a reader longer than size
	}
	n, err := io.CopyBuffer(f, blob.ContextReader(ctx, io.LimitReader(r, limit)), make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	switch {
	case size >= 0 && n != size:
		return fmt.Errorf("fsblob: put %s: reader gave %s bytes, size says %d", key, moreOrN(n, size), size)
	case n > s.max:
		return fmt.Errorf("fsblob: put %s: over the limit of %d bytes", key, s.max)
	}
	var hdr [headerLen]byte
	copy(hdr[:], magic)
	binary.BigEndian.PutUint64(hdr[8:], uint64(n))
	binary.BigEndian.PutUint16(hdr[16:], uint16(len(contentType)))
	copy(hdr[18:], contentType)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsblob: put %s: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := s.path(key)
	// A concurrent Delete may prune the directories between mkdirs and
	// rename; a few attempts outlast any such race.
	for attempt := 0; ; attempt++ {
		if err := s.mkdirs(filepath.Dir(dst)); err != nil {
			return fmt.Errorf("fsblob: put %s: %w", key, err)
		}
		err = os.Rename(tmp, dst)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 10 {
			return fmt.Errorf("fsblob: put %s: %w", key, err)
		}
	}
	done = true
	if err := durablefile.SyncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	return nil
}

func moreOrN(n, size int64) string {
	if n > size {
		return "more"
	}
	return fmt.Sprint(n)
}

// mkdirs creates dir and its missing parents below objects/, fsyncing the
// parent of each directory it creates so the new entries are durable.
func (s *Store) mkdirs(dir string) error {
	if dir == s.objects {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return durablefile.SyncDir(parent)
}

// prune removes dir and its parents below objects/ while they are empty.
// A Put racing with it retries (see Put).
func (s *Store) prune(dir string) {
	for dir != s.objects && strings.HasPrefix(dir, s.objects+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return // not empty (or gone): stop
		}
		dir = filepath.Dir(dir)
	}
}

// open opens key's file and reads its header.
func (s *Store) open(ctx context.Context, key string) (*os.File, blob.Info, error) {
	if err := s.gate.Check(ctx, key); err != nil {
		return nil, blob.Info{}, err
	}
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, blob.Info{}, fmt.Errorf("fsblob: %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("fsblob: %w", err)
	}
	info, err := readHeader(f, key)
	if err != nil {
		f.Close()
		return nil, blob.Info{}, err
	}
	return f, info, nil
}

func readHeader(f *os.File, key string) (blob.Info, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: %s: header: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: %s: %w", key, err)
	}
	size := binary.BigEndian.Uint64(hdr[8:])
	ctLen := int(binary.BigEndian.Uint16(hdr[16:]))
	if !bytes.Equal(hdr[:8], []byte(magic)) || ctLen > blob.MaxContentTypeLen || int64(size) != fi.Size()-headerLen {
		return blob.Info{}, fmt.Errorf("fsblob: %s: corrupt object file %s", key, f.Name())
	}
	return blob.Info{
		Key:         key,
		Size:        int64(size),
		ContentType: string(hdr[18 : 18+ctLen]),
		ModTime:     fi.ModTime(),
	}, nil
}

// Get implements blob.Store. The object stays readable through the returned
// reader even if it is replaced or deleted meanwhile.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	f, info, err := s.open(ctx, key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	// Only Read and Close: the caller must not seek into the header.
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(f, 64<<10), f}, info, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	f, info, err := s.open(ctx, key)
	if err != nil {
		return blob.Info{}, err
	}
	f.Close()
	return info, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.gate.Check(ctx, key); err != nil {
		return err
	}
	p := s.path(key)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsblob: delete %s: %w", key, err)
	}
	if err := durablefile.SyncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %s: %w", key, err)
	}
	s.prune(filepath.Dir(p))
	return nil
}

// List implements blob.Store: a depth-first walk that holds one directory
// listing per level, ordered so keys come out in byte order.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[blob.Info, error] {
	return func(yield func(blob.Info, error) bool) {
		if !s.gate.Listing(ctx, yield) {
			return
		}
		dirPart, rest := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dirPart, rest = prefix[:i], prefix[i+1:]
			if !blob.ValidKey(dirPart) {
				return // no valid key starts with it
			}
			dirPart += "/"
		}
		if !validPartialSegment(rest) {
			return
		}
		s.walk(ctx, filepath.Join(s.objects, filepath.FromSlash(dirPart)), dirPart, rest, yield)
	}
}

// validPartialSegment reports whether some valid key segment starts with p.
func validPartialSegment(p string) bool {
	return p == "" || p == "." || p == ".." || blob.ValidKey(p)
}

type entry struct {
	sortKey string // the key's text from here on: "seg" or "seg/"
	name    string
	obj     bool
	de      fs.DirEntry
}

// walk yields the objects in dir (keys starting keyPrefix) whose first
// segment starts with filter; it returns false once yield did.
func (s *Store) walk(ctx context.Context, dir, keyPrefix, filter string, yield func(blob.Info, error) bool) bool {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true // no such directory, or pruned under us
	}
	if err != nil {
		yield(blob.Info{}, fmt.Errorf("fsblob: list: %w", err))
		return false
	}
	ents := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		switch {
		case de.Type().IsRegular() && strings.HasSuffix(name, objSuffix):
			seg := strings.TrimSuffix(name, objSuffix)
			if strings.HasPrefix(seg, filter) {
				ents = append(ents, entry{sortKey: seg, name: seg, obj: true, de: de})
			}
		case de.IsDir() && strings.HasPrefix(name, filter):
			ents = append(ents, entry{sortKey: name + "/", name: name, de: de})
		}
	}
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			yield(blob.Info{}, err)
			return false
		}
		if !e.obj {
			if !s.walk(ctx, filepath.Join(dir, e.name), keyPrefix+e.name+"/", "", yield) {
				return false
			}
			continue
		}
		fi, err := e.de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			yield(blob.Info{}, fmt.Errorf("fsblob: list: %w", err))
			return false
		}
		if fi.Size() < headerLen {
			yield(blob.Info{}, fmt.Errorf("fsblob: list: corrupt object file %s", filepath.Join(dir, e.de.Name())))
			return false
		}
		if !yield(blob.Info{Key: keyPrefix + e.name, Size: fi.Size() - headerLen, ModTime: fi.ModTime()}, nil) {
			return false
		}
	}
	return true
}
