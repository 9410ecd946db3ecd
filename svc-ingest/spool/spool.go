// Package spool is ingest's durable log: accepted batches are appended to
// segment files and fsync'd before the request is answered, then read in
// order by one consumer (the forwarder) that acknowledges what was delivered.
//
// On disk (one directory, locked by one process):
//
//	<seg-id 16 hex>.seg  header "SLSPOOL1", then records:
//	                     len u32 | crc32c(time‖payload) u32 | time unix-ns i64 | payload
//	cursor.<consumer>    seg u64 | off i64 | crc32c u32, replaced atomically (tmp+fsync+rename+fsync dir)
//	<seg-id 16 hex>.idx  "SLSPIDX1" | size i64 | records i64 | crc32c u32: the sealed segment's length
//	                     and record count, written (atomically) when the segment is sealed
//	dead/                the dead-letter area (see dead.go)
//	FORMAT               FormatVersion (storeformat.Marker; none: version 1)
//
// Appends go through one writer goroutine that takes every request queued
// while the previous fsync ran and writes them with one write and one
// fdatasync (group commit); Append returns only after that fsync. A
// segment is deleted only once the
// consumer's persisted cursor is past it. Once a segment is half full, the
// next one's file is written full of zeros in the background
// (next.seg.tmp, renamed when the writer starts it), so that a group
// commit's fdatasync flushes data only, not the file system's journal;
// zeros read as the end of the records, as a preallocated tail does. The
// zeros go to the disk a piece at a time (see trickle), not in one burst
// that commits would queue behind. A segment sealed before the consumer
// reached it leaves the page cache (see dropCache), so a backlog does not
// fill memory.
//
// Opening the spool costs at most about two segments' worth of reading,
// whatever the undelivered backlog: a sealed segment is accounted from its
// index file, the cursor's segment by walking its record headers up to the
// cursor, and only the newest segment is read and checksummed in full — it
// is truncated at its first invalid record: a write torn by a crash was
// never acknowledged, so only such a tail is dropped. A sealed segment
// without a (valid) index — a crash between sealing and indexing, or a
// spool written before indexes existed — is scanned as before and indexed.
// An invalid record inside an older segment (media corruption) is logged
// and counted when it is found (at open for a scanned segment, else when
// read), and the reader skips the rest of that segment.
package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sightlinehq/sightline/platform/storeformat"
)

const (
	segMagic     = "SLSPOOL1"
	idxMagic     = "SLSPIDX1"
	idxLen       = len(idxMagic) + 8 + 8 + 4
	segHeaderLen = int64(len(segMagic))
	recHeaderLen = 16
	// MaxRecordBytes bounds one record's payload.
	MaxRecordBytes = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFull means the spool holds its configured maximum of undelivered bytes.
var ErrFull = errors.New("spool: full")

// ErrLocked means another process holds the spool (ingest is running).
var ErrLocked = errors.New("spool: in use by another process")

// ErrClosed means the spool was closed.
var ErrClosed = errors.New("spool: closed")

// Pos is a position in the log: a segment and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

func (p Pos) less(q Pos) bool { return p.Seg < q.Seg || p.Seg == q.Seg && p.Off < q.Off }

// Record is one record read back.
type Record struct {
	Pos     Pos // where the record starts
	Next    Pos // where the next record starts: Ack(Next) acknowledges this record
	Time    time.Time
	Payload []byte
}

// Options configure a spool.
type Options struct {
	Dir string
	// MaxBytes bounds undelivered bytes (record headers included); past it
	// Append returns ErrFull.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started.
	SegmentBytes int64
	// Consumer names the cursor file.
	Consumer string
	Logger   *slog.Logger
	// CursorInterval is the most time between cursor writes (default 200 ms).
	CursorInterval time.Duration
	// OnCommit, if set, is called after each group commit: the appends
	// one fdatasync made durable, their bytes, and the commit's write and
	// fdatasync time.
	OnCommit func(records, bytes int, fsync time.Duration)
	// DeadRetention is how long a dead letter is kept (default 7 days);
	// DeadMaxBytes bounds the dead-letter area's payload bytes (default
	// 1 GiB): past it PruneDead deletes the oldest first, each logged.
	DeadRetention time.Duration
	DeadMaxBytes  int64
}

// Stats is a snapshot.
type Stats struct {
	Bytes, Records int64
	Segments       int
	Oldest         time.Time // receive time of the oldest undelivered record; zero when empty
	MaxBytes       int64
	Corrupt        int64 // invalid records found inside older segments
	TornBytes      int64 // bytes dropped from the tail at open
	// The dead-letter area: records and payload bytes.
	DeadRecords, DeadBytes int64
}

type segment struct {
	id   uint64
	size int64 // valid bytes (header included)
	// total counts the segment's records; records counts those the reader
	// has yet to meet from where it starts in this segment (the cursor for
	// the cursor's segment, else the first record), so that a reader that
	// skips a damaged rest of the segment can take them off the count.
	total, records int64
}

type appendReq struct {
	payload []byte
	// more are the records after payload of an AppendAll, committed in
	// the same group (nil for Append).
	more [][]byte
	time time.Time
	done chan error
}

// size is the bytes the request's records take in a segment.
func (r *appendReq) size() int64 {
	n := int64(recHeaderLen + len(r.payload))
	for _, p := range r.more {
		n += int64(recHeaderLen + len(p))
	}
	return n
}

// Spool is safe for concurrent Append; Read and Ack belong to one consumer.
type Spool struct {
	opts Options
	log  *slog.Logger
	lock *os.File

	reqs    chan *appendReq
	stop    chan struct{}
	stopped chan struct{}
	closed  atomic.Bool

	mu     sync.Mutex
	segs   []segment // ascending; the last is the one being written
	cursor Pos       // consumer position (delivered up to here)
	// persisted is the cursor as last written to disk.
	persisted   Pos
	persistedAt time.Time
	oldest      time.Time
	bytes       int64 // undelivered bytes
	records     int64
	notify      chan struct{} // closed and replaced after each commit
	failed      error         // set when the log could not be repaired after a write error
	stats       Stats
	deadRecords int64
	deadBytes   int64

	deadMu     sync.Mutex // serialises changes to the dead-letter area
	lastDeadID string
	deadFrom   map[Pos]DeadLetter // by log position of the record

	// writer-only state
	w    *os.File
	wOff int64
	buf  []byte
	// preparing: a goroutine is writing the next segment's file full of
	// zeros (see prepare); it hands the file over on prepared.
	preparing bool
	prepared  chan *os.File
	// bgWG counts the writer's file work done beside it (preparing the next
	// segment, dropping a sealed one from the page cache); Close waits.
	bgWG sync.WaitGroup
	// fdatasync makes a segment's written bytes durable (tests fail or
	// delay it).
	fdatasync func(*os.File) error

	// readSeg is the segment the consumer reads in (readPos.Seg), for the
	// writer: a sealed segment the consumer has not reached leaves the
	// page cache (see seal).
	readSeg atomic.Uint64

	// consumer-only state
	readPos   Pos
	readInSeg int64 // records read in readPos.Seg since the reader entered it
	rf        *os.File
	rfSeg     uint64
	rbuf      *bufio.Reader // reused by the reader: one 256 KiB buffer, not one per Read
}

// FormatVersion is the version of the spool's files (segments, indexes,
// cursor, dead letters); bump it with a change an older binary would
// misread.
const FormatVersion = 1

// format is the spool directory's marker (storeformat: a newer one is
// refused).
func format() storeformat.Marker {
	return storeformat.Marker{Store: "spool", Version: FormatVersion}
}

// Open opens (creating if needed) and recovers the spool in opts.Dir.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.CursorInterval <= 0 {
		opts.CursorInterval = 200 * time.Millisecond
	}
	if opts.Consumer == "" {
		opts.Consumer = "forwarder"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DeadRetention <= 0 {
		opts.DeadRetention = 7 * 24 * time.Hour
	}
	if opts.DeadMaxBytes <= 0 {
		opts.DeadMaxBytes = 1 << 30
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, opts.Dir, err)
	}
	// Under the lock: a spool written by a newer Sightline is refused
	// before recovery, which rewrites segments it cannot read.
	if err := format().Open(opts.Dir); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{
		opts: opts, log: opts.Logger, lock: lock,
		reqs: make(chan *appendReq, 4096), stop: make(chan struct{}), stopped: make(chan struct{}),
		notify: make(chan struct{}), prepared: make(chan *os.File, 1),
		fdatasync: func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) },
	}
	// A next segment left half-prepared by a crash: start again.
	if err := removeIfExists(s.prepPath()); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.openDead(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.roll(); err != nil {
		lock.Close()
		return nil, err
	}
	s.readPos = s.cursor
	s.readSeg.Store(s.cursor.Seg)
	s.persisted = s.cursor
	s.stats.MaxBytes = opts.MaxBytes
	go s.writer()
	return s, nil
}

func (s *Spool) segPath(id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016x.seg", id))
}

func (s *Spool) cursorPath() string { return filepath.Join(s.opts.Dir, "cursor."+s.opts.Consumer) }

// recover loads the cursor, drops delivered segments, validates the rest and
// truncates a torn tail.
func (s *Spool) recover() error {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("spool: list: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s.cursor = s.readCursor()
	for len(ids) > 0 && ids[0] < s.cursor.Seg {
		if err := os.Remove(s.segPath(ids[0])); err != nil {
			return fmt.Errorf("spool: remove delivered segment: %w", err)
		}
		ids = ids[1:]
	}
	// (Their indexes go with the stray ones below.)
	if len(ids) > 0 && ids[0] > s.cursor.Seg {
		s.cursor = Pos{Seg: ids[0], Off: segHeaderLen}
	}
	if s.cursor.Off < segHeaderLen {
		s.cursor.Off = segHeaderLen
	}
	s.removeStrayIndexes(entries, ids)
	for i, id := range ids {
		last := i == len(ids)-1
		start := segHeaderLen
		if id == s.cursor.Seg {
			start = s.cursor.Off
		}
		var seg segment
		var err error
		indexed := false
		if !last {
			seg, indexed = s.readIndex(id)
		}
		if indexed {
			seg.records = seg.total
			if start > segHeaderLen {
				start = min(start, seg.size)
				seg.records = max(seg.total-s.countBefore(id, start), 0)
			}
		} else {
			var clean bool
			seg, clean, err = s.scan(id, start, last)
			if err != nil {
				return err
			}
			start = min(start, seg.size)
			if clean {
				// The newest segment is sealed too from here on: Open
				// starts a new one.
				if err := s.writeIndex(seg); err != nil {
					s.log.Warn("spool: cannot index a sealed segment; it will be scanned at the next open", "segment", s.segPath(id), "error", err)
				}
			}
		}
		if id == s.cursor.Seg {
			s.cursor.Off = start
		}
		s.records += seg.records
		s.bytes += seg.size - start
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		s.cursor = Pos{Seg: s.cursor.Seg + 1, Off: segHeaderLen}
	}
	s.oldest = s.timeAt(s.cursor)
	return nil
}

func (s *Spool) idxPath(id uint64) string {
	return filepath.Join(s.opts.Dir, fmt.Sprintf("%016x.idx", id))
}

// removeStrayIndexes deletes index files whose segment is gone (a crash
// between deleting a delivered segment and its index).
func (s *Spool) removeStrayIndexes(entries []os.DirEntry, ids []uint64) {
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".idx") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".idx"), 16, 64)
		if err == nil && slices.Contains(ids, id) {
			continue
		}
		if err := os.Remove(filepath.Join(s.opts.Dir, name)); err != nil {
			s.log.Warn("spool: remove stray index", "file", name, "error", err)
		}
	}
}

// readIndex returns a sealed segment's size and record count from its
// index, if the index is intact and agrees with the file's length.
func (s *Spool) readIndex(id uint64) (segment, bool) {
	b, err := os.ReadFile(s.idxPath(id))
	if err != nil || len(b) != idxLen || string(b[:len(idxMagic)]) != idxMagic ||
		crc32.Checksum(b[:idxLen-4], castagnoli) != binary.LittleEndian.Uint32(b[idxLen-4:]) {
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool: unreadable segment index; scanning the segment", "segment", s.segPath(id), "error", err)
		}
		return segment{}, false
	}
	seg := segment{id: id,
		size:  int64(binary.LittleEndian.Uint64(b[len(idxMagic):])),
		total: int64(binary.LittleEndian.Uint64(b[len(idxMagic)+8:]))}
	fi, err := os.Stat(s.segPath(id))
	if err != nil || fi.Size() != seg.size || seg.size < segHeaderLen || seg.total < 0 {
		return segment{}, false
	}
	return seg, true
}

// writeIndex records a sealed segment's size and record count.
func (s *Spool) writeIndex(seg segment) error {
	b := make([]byte, 0, idxLen)
	b = append(b, idxMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(seg.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(seg.total))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return writeFileAtomic(s.opts.Dir, s.idxPath(seg.id), b)
}

// countBefore counts the records of a segment before off by walking their
// headers (16 bytes each; payloads are not read). The records themselves
// are checked when they are read.
func (s *Spool) countBefore(id uint64, off int64) int64 {
	f, err := os.Open(s.segPath(id))
	if err != nil {
		return 0
	}
	defer f.Close()
	var h [recHeaderLen]byte
	var n int64
	for p := segHeaderLen; p < off; n++ {
		if _, err := f.ReadAt(h[:], p); err != nil {
			break
		}
		p += recHeaderLen + int64(binary.LittleEndian.Uint32(h[0:4]))
	}
	return n
}

// timeAt reads the receive time of the record at p, or of the first
// record after it when p is a segment's end; zero when there is none.
func (s *Spool) timeAt(p Pos) time.Time {
	for _, seg := range s.segs {
		if seg.id < p.Seg {
			continue
		}
		off := segHeaderLen
		if seg.id == p.Seg {
			off = p.Off
		}
		if off+recHeaderLen > seg.size {
			continue
		}
		f, err := os.Open(s.segPath(seg.id))
		if err != nil {
			return time.Time{}
		}
		var h [recHeaderLen]byte
		_, err = f.ReadAt(h[:], off)
		f.Close()
		if err != nil {
			return time.Time{}
		}
		return time.Unix(0, int64(binary.LittleEndian.Uint64(h[8:16])))
	}
	return time.Time{}
}

// scan validates one segment from start (the records before it were
// delivered; they are only counted). For the newest segment the first
// invalid record ends it: the file is truncated there. clean reports that
// the segment ends at its last record (it may be indexed).
func (s *Spool) scan(id uint64, start int64, last bool) (seg segment, clean bool, err error) {
	path := s.segPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return segment{}, false, fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segment{}, false, fmt.Errorf("spool: stat segment: %w", err)
	}
	hdr := make([]byte, segHeaderLen)
	if _, err := f.ReadAt(hdr, 0); err != nil || string(hdr) != segMagic {
		// A segment whose header never reached the disk holds nothing acknowledged.
		s.log.Warn("spool: segment without a valid header, rewriting it empty", "segment", path)
		if err := f.Truncate(0); err != nil {
			return segment{}, false, fmt.Errorf("spool: reset segment: %w", err)
		}
		if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
			return segment{}, false, fmt.Errorf("spool: reset segment: %w", err)
		}
		s.stats.TornBytes += fi.Size()
		if err := f.Sync(); err != nil {
			return segment{}, false, fmt.Errorf("spool: reset segment: %w", err)
		}
		return segment{id: id, size: segHeaderLen}, true, nil
	}
	start = min(start, fi.Size())
	before := int64(0)
	if start > segHeaderLen {
		before = s.countBefore(id, start)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, start, fi.Size()-start), 1<<20)
	off := start
	var after int64
	var payload []byte
	cleanEnd := false
	for {
		_, p, err := readRecord(r, payload)
		payload = p
		if err == io.EOF {
			cleanEnd = true
			break
		}
		if err != nil {
			if last {
				torn := fi.Size() - off
				s.stats.TornBytes += torn
				s.log.Warn("spool: dropping torn tail", "segment", path, "offset", off, "bytes", torn, "reason", err)
				if err := f.Truncate(off); err != nil {
					return segment{}, false, fmt.Errorf("spool: truncate torn tail: %w", err)
				}
				if err := f.Sync(); err != nil {
					return segment{}, false, fmt.Errorf("spool: sync truncated segment: %w", err)
				}
			} else {
				s.stats.Corrupt++
				s.log.Error("spool: invalid record inside a sealed segment; skipping the rest of it",
					"segment", path, "offset", off, "bytes_skipped", fi.Size()-off, "reason", err)
			}
			break
		}
		after++
		off += recHeaderLen + int64(len(p))
	}
	if !last && cleanEnd && off < fi.Size() {
		// Sealed segments end at their last record; zeros inside one are
		// damage (or a crash between preallocating and sealing, when
		// what follows is only zeros either way).
		s.stats.Corrupt++
		s.log.Error("spool: unreadable region inside a sealed segment; skipping the rest of it",
			"segment", path, "offset", off, "bytes_skipped", fi.Size()-off)
	}
	if last {
		// Cut the preallocated (or torn, already cut above) tail so that
		// the file ends at its last record, and make what it holds durable
		// before an index vouches for it.
		if off < fi.Size() {
			if err := f.Truncate(off); err != nil {
				return segment{}, false, fmt.Errorf("spool: truncate segment tail: %w", err)
			}
		}
		if err := f.Sync(); err != nil {
			return segment{}, false, fmt.Errorf("spool: sync segment: %w", err)
		}
	}
	return segment{id: id, size: off, total: before + after, records: after}, last || off == fi.Size(), nil
}

var errBadRecord = errors.New("spool: invalid record")

// readRecord reads one record; io.EOF only at a clean record boundary.
func readRecord(r *bufio.Reader, buf []byte) (time.Time, []byte, error) {
	var h [recHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return time.Time{}, buf, io.EOF
		}
		return time.Time{}, buf, fmt.Errorf("%w: short header", errBadRecord)
	}
	if h == ([recHeaderLen]byte{}) {
		// The preallocated, never written part of a segment.
		return time.Time{}, buf, io.EOF
	}
	n := binary.LittleEndian.Uint32(h[0:4])
	if n > MaxRecordBytes {
		return time.Time{}, buf, fmt.Errorf("%w: length %d", errBadRecord, n)
	}
	buf = slices.Grow(buf[:0], int(n))[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return time.Time{}, buf, fmt.Errorf("%w: short payload", errBadRecord)
	}
	crc := crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, buf)
	if crc != binary.LittleEndian.Uint32(h[4:8]) {
		return time.Time{}, buf, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(h[8:16]))), buf, nil
}

func (s *Spool) readCursor() Pos {
	b, err := os.ReadFile(s.cursorPath())
	if err != nil || len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			s.log.Error("spool: unreadable cursor, redelivering from the oldest segment", "error", err)
		}
		return Pos{}
	}
	return Pos{Seg: binary.LittleEndian.Uint64(b[0:8]), Off: int64(binary.LittleEndian.Uint64(b[8:16]))}
}

func (s *Spool) writeCursor(p Pos) error {
	if err := writeFileAtomic(s.opts.Dir, s.cursorPath(), cursorBytes(p)); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return nil
}

// cursorBytes is the cursor file's content for p.
func cursorBytes(p Pos) []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint64(b[0:8], p.Seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(p.Off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

// writeFileAtomic replaces path (in dir) with b: tmp file, fsync, rename,
// fsync of the directory — after a crash the file is the old or the new
// one, never a mix.
func writeFileAtomic(dir, path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	return syncDir(dir)
}

func (s *Spool) syncDir() error { return syncDir(s.opts.Dir) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

// prepPath is where the next segment's file is prepared.
func (s *Spool) prepPath() string { return filepath.Join(s.opts.Dir, "next.seg.tmp") }

// prepare writes the next segment's file full of zeros and fsyncs it, then
// hands it to the writer (nil if it could not, or the spool is closing).
// A group commit into blocks already written costs one data flush; into
// preallocated (unwritten) or new blocks, fdatasync must also commit the
// file system's journal to record them as written — several times slower,
// and it waits for whatever else the journal carries (as databases zero or
// recycle their WAL files).
func (s *Spool) prepare() {
	defer s.bgWG.Done()
	f, err := s.zeroFile(s.prepPath(), s.opts.SegmentBytes)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			s.log.Warn("spool: cannot prepare the next segment; it will be preallocated instead", "error", err)
		}
		_ = os.Remove(s.prepPath())
		f = nil
	}
	s.prepared <- f
}

// zeroFile creates path with size zero bytes, durably; it gives up with
// ErrClosed when the spool closes meanwhile.
func (s *Spool) zeroFile(path string, size int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: create prepared segment: %w", err)
	}
	// Small writes, so that Close need not wait long for this to stop.
	zeros := make([]byte, min(size, 256<<10))
	for off := int64(0); off < size; off += int64(len(zeros)) {
		select {
		case <-s.stop:
			f.Close()
			return nil, ErrClosed
		default:
		}
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: prepare segment: %w", err)
		}
		trickle(f, off-int64(len(zeros)), off, n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: prepare segment: %w", err)
	}
	return f, nil
}

// trickle starts the write-back of the n bytes of zeros just written at
// off and waits for the piece before them, at prev (negative: none). Left
// to the final fsync, a segment's 64 MiB of zeros reach the disk in one
// burst that every group commit's fdatasync then queues behind (bench-edge
// under strace: the prepared file's fsync 82 ms, a commit's fdatasync
// beside it 21–59 ms against 0.2 ms otherwise), and a request's p99 was
// that stall. Trickled, at most two pieces are in flight when a commit
// flushes. Only a hint: on a file system without sync_file_range the zeros
// go in one burst again, and the final fsync makes them durable either way.
func trickle(f *os.File, prev, off, n int64) {
	fd := int(f.Fd())
	_ = unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	if prev >= 0 {
		_ = unix.SyncFileRange(fd, prev, off-prev, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	}
}

// prepareNext starts preparing the next segment's file once the one being
// written is half full (an idle spool writes no zeros), unless one is
// being prepared or ready.
func (s *Spool) prepareNext() {
	if s.preparing || s.wOff < s.opts.SegmentBytes/2 {
		return
	}
	s.preparing = true
	s.bgWG.Add(1)
	go s.prepare()
}

// takePrepared moves the prepared file, if one is ready, to path; nil when
// none is (the caller creates the segment itself, as it must not wait).
func (s *Spool) takePrepared(path string) *os.File {
	var f *os.File
	select {
	case f = <-s.prepared:
		s.preparing = false
	default:
	}
	if f != nil {
		if err := os.Rename(s.prepPath(), path); err != nil {
			s.log.Warn("spool: cannot use the prepared segment", "error", err)
			f.Close()
			f = nil
		}
	}
	return f
}

// roll starts a new segment (writer goroutine, or Open before it starts).
func (s *Spool) roll() error {
	s.mu.Lock()
	id := s.cursor.Seg
	if n := len(s.segs); n > 0 {
		id = s.segs[n-1].id + 1
	}
	s.mu.Unlock()
	f := s.takePrepared(s.segPath(id))
	if f == nil {
		var err error
		f, err = os.OpenFile(s.segPath(id), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
		if err != nil {
			return fmt.Errorf("spool: create segment: %w", err)
		}
		// Preallocate the segment so that a group commit's fdatasync
		// flushes data, not a new file size, each time. Not every file
		// system can; then the file just grows.
		_ = syscall.Fallocate(int(f.Fd()), 0, 0, s.opts.SegmentBytes)
	}
	if _, err := f.WriteAt([]byte(segMagic), 0); err != nil {
		f.Close()
		return fmt.Errorf("spool: write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: sync segment: %w", err)
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		return err
	}
	if err := s.seal(); err != nil {
		f.Close()
		return err
	}
	s.w, s.wOff = f, segHeaderLen
	s.mu.Lock()
	s.segs = append(s.segs, segment{id: id, size: segHeaderLen})
	s.mu.Unlock()
	return nil
}

// seal cuts the segment being written at its last record, closes it and
// writes its index (so that Open need not read it).
func (s *Spool) seal() error {
	if s.w == nil {
		return nil
	}
	f := s.w
	if err := f.Truncate(s.wOff); err != nil {
		f.Close()
		return fmt.Errorf("spool: seal segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: seal segment: %w", err)
	}
	s.mu.Lock()
	seg := s.segs[len(s.segs)-1]
	s.mu.Unlock()
	if err := s.writeIndex(seg); err != nil {
		// Not fatal: Open scans a segment without an index.
		s.log.Warn("spool: cannot index a sealed segment; it will be scanned at the next open", "segment", s.segPath(seg.id), "error", err)
	}
	if seg.id <= s.readSeg.Load() {
		f.Close()
		return nil
	}
	// Freeing 64 MiB of page cache takes milliseconds (3.5–4.8 under
	// bench-edge) that every append queued meanwhile would wait for: it is
	// done beside the writer.
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		dropCache(f)
		f.Close()
	}()
	return nil
}

// dropCache takes a sealed, synced segment the consumer has not reached
// out of the page cache. Kept, a backlog's segments fill memory, and each
// page of a new segment's zeros then needs a page the kernel has not used
// yet — on a VM whose host backs guest memory lazily that costs several
// times the write (bench-edge: zeroing was 16 % of the edge's CPU while
// the spool grew). Freed, the next segment's zeros reuse the same pages.
// The consumer reads the segment back from disk when it gets there, as it
// would after a restart. Only a hint: errors are ignored.
func dropCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// Append stores payload durably: it returns nil only after the record is
// fsync'd. It returns ErrFull past MaxBytes.
func (s *Spool) Append(ctx context.Context, payload []byte) error {
	return s.append(ctx, &appendReq{payload: payload, time: time.Now(), done: make(chan error, 1)})
}

// AppendAll stores payloads, in order, as records of one group commit: it
// returns nil only after all are fsync'd, and ErrFull, storing none, when
// they do not all fit under MaxBytes. (A failed write may leave the records
// before a segment boundary stored; the caller is told it failed.)
func (s *Spool) AppendAll(ctx context.Context, payloads [][]byte) error {
	if len(payloads) == 0 {
		return nil
	}
	return s.append(ctx, &appendReq{payload: payloads[0], more: payloads[1:], time: time.Now(), done: make(chan error, 1)})
}

func (s *Spool) append(ctx context.Context, req *appendReq) error {
	if len(req.payload) > MaxRecordBytes {
		return fmt.Errorf("spool: record of %d bytes exceeds %d", len(req.payload), MaxRecordBytes)
	}
	for _, p := range req.more {
		if len(p) > MaxRecordBytes {
			return fmt.Errorf("spool: record of %d bytes exceeds %d", len(p), MaxRecordBytes)
		}
	}
	if s.closed.Load() {
		return ErrClosed
	}
	s.mu.Lock()
	full := s.bytes+req.size() > s.opts.MaxBytes
	failed := s.failed
	s.mu.Unlock()
	if failed != nil {
		return failed
	}
	if full {
		return ErrFull
	}
	select {
	case s.reqs <- req:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the record may be written; wait for the verdict even if
	// ctx ends so that the caller never reports failure for a stored record.
	select {
	case err := <-req.done:
		return err
	case <-s.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (s *Spool) writer() {
	defer close(s.stopped)
	var batch []*appendReq
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.stop:
			// Drain what was queued before Close so no caller hangs.
			for {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.commit(batch)
			}
			if err := s.seal(); err != nil {
				s.log.Error("spool: close", "error", err)
			}
			return
		}
	drain:
		for len(batch) < 8192 {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

// commit writes a group of records with one write and one fsync per
// segment touched.
func (s *Spool) commit(batch []*appendReq) {
	s.mu.Lock()
	failed := s.failed
	room := s.opts.MaxBytes - s.bytes
	s.mu.Unlock()
	if failed != nil {
		for _, r := range batch {
			r.done <- failed
		}
		return
	}
	start := time.Now()
	var accepted []*appendReq
	s.buf = s.buf[:0]
	var oldest time.Time // of the records in s.buf
	var groupBytes, inBuf int
	// flush makes s.buf durable and, in the same critical section as the
	// new segment size, counts its records: the reader may see (and
	// acknowledge) them as soon as the size is published.
	flush := func() error {
		if len(s.buf) == 0 {
			return nil
		}
		if _, err := s.w.WriteAt(s.buf, s.wOff); err != nil {
			return fmt.Errorf("spool: write: %w", err)
		}
		if err := s.fdatasync(s.w); err != nil {
			return fmt.Errorf("spool: fdatasync: %w", err)
		}
		s.wOff += int64(len(s.buf))
		groupBytes += len(s.buf)
		s.mu.Lock()
		cur := &s.segs[len(s.segs)-1]
		cur.size = s.wOff
		cur.total += int64(inBuf)
		cur.records += int64(inBuf)
		if s.records == 0 {
			s.oldest = oldest
		}
		s.records += int64(inBuf)
		s.bytes += int64(len(s.buf))
		s.mu.Unlock()
		s.buf = s.buf[:0]
		inBuf, oldest = 0, time.Time{}
		s.prepareNext()
		return nil
	}
	var err error
	failedAt := len(batch) // the requests from here on get the error
	for ri, r := range batch {
		if size := r.size(); size > room {
			r.done <- ErrFull
			continue
		} else {
			room -= size
		}
		for i := -1; i < len(r.more); i++ {
			payload := r.payload
			if i >= 0 {
				payload = r.more[i]
			}
			size := int64(recHeaderLen + len(payload))
			if s.wOff+int64(len(s.buf))+size > s.opts.SegmentBytes && s.wOff+int64(len(s.buf)) > segHeaderLen {
				if err = flush(); err != nil {
					break
				}
				if err = s.roll(); err != nil {
					break
				}
			}
			var h [recHeaderLen]byte
			binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
			binary.LittleEndian.PutUint64(h[8:16], uint64(r.time.UnixNano()))
			crc := crc32.Update(crc32.Checksum(h[8:16], castagnoli), castagnoli, payload)
			binary.LittleEndian.PutUint32(h[4:8], crc)
			s.buf = append(s.buf, h[:]...)
			s.buf = append(s.buf, payload...)
			inBuf++
			if oldest.IsZero() {
				oldest = r.time
			}
		}
		if err != nil {
			failedAt = ri
			break
		}
		accepted = append(accepted, r)
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		s.repair(err)
		for _, r := range accepted {
			r.done <- err
		}
		for _, r := range batch[failedAt:] {
			r.done <- err
		}
		return
	}
	s.mu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	if s.opts.OnCommit != nil && len(accepted) > 0 {
		s.opts.OnCommit(len(accepted), groupBytes, time.Since(start))
	}
	for _, r := range accepted {
		r.done <- nil
	}
}

// repair drops a group whose write or fsync failed: its bytes are cut off
// (the callers are told it failed, so it must not be delivered). If that is
// impossible the spool refuses further appends.
func (s *Spool) repair(cause error) {
	s.log.Error("spool: group commit failed", "error", cause)
	s.buf = s.buf[:0]
	if err := s.w.Truncate(s.wOff); err == nil {
		if err = s.w.Sync(); err == nil {
			return
		}
	}
	s.mu.Lock()
	s.failed = fmt.Errorf("spool: unusable after a failed write: %w", cause)
	s.mu.Unlock()
}

// Read returns up to maxRecords records (and about maxBytes of payload, at
// least one record) after the last one read, waiting until there is one or
// ctx ends. It is for the single consumer.
func (s *Spool) Read(ctx context.Context, maxRecords int, maxBytes int) ([]Record, error) {
	for {
		s.mu.Lock()
		notify := s.notify
		segs := slices.Clone(s.segs)
		s.mu.Unlock()
		recs, err := s.readAvailable(segs, maxRecords, maxBytes)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopped:
			return nil, ErrClosed
		}
	}
}

func (s *Spool) readAvailable(segs []segment, maxRecords, maxBytes int) ([]Record, error) {
	var out []Record
	total := 0
	for _, seg := range segs {
		if seg.id < s.readPos.Seg {
			continue
		}
		if seg.id > s.readPos.Seg {
			s.readPos = Pos{Seg: seg.id, Off: segHeaderLen}
			s.readSeg.Store(seg.id)
			s.readInSeg = 0
		}
		if s.readPos.Off >= seg.size {
			continue
		}
		if s.rf == nil || s.rfSeg != seg.id {
			if s.rf != nil {
				s.rf.Close()
			}
			f, err := os.Open(s.segPath(seg.id))
			if err != nil {
				return out, fmt.Errorf("spool: open segment for reading: %w", err)
			}
			s.rf, s.rfSeg = f, seg.id
		}
		sr := io.NewSectionReader(s.rf, s.readPos.Off, seg.size-s.readPos.Off)
		if s.rbuf == nil {
			s.rbuf = bufio.NewReaderSize(sr, 256<<10)
		} else {
			s.rbuf.Reset(sr)
		}
		r := s.rbuf
		for s.readPos.Off < seg.size {
			t, p, err := readRecord(r, nil)
			if err != nil {
				// The records the segment was counted with that will now
				// never be read (nor acknowledged) leave the count.
				s.mu.Lock()
				s.stats.Corrupt++
				s.records = max(s.records-max(seg.records-s.readInSeg, 0), 0)
				s.mu.Unlock()
				s.log.Error("spool: invalid record while reading; skipping the rest of the segment",
					"segment", s.segPath(seg.id), "offset", s.readPos.Off, "error", err)
				s.readPos.Off = seg.size
				break
			}
			next := Pos{Seg: seg.id, Off: s.readPos.Off + recHeaderLen + int64(len(p))}
			out = append(out, Record{Pos: s.readPos, Next: next, Time: t, Payload: p})
			s.readPos = next
			s.readInSeg++
			total += len(p)
			if len(out) >= maxRecords || total >= maxBytes {
				return out, nil
			}
		}
	}
	return out, nil
}

// Ack records that every record before next was delivered (records is how
// many that is since the previous Ack). The cursor is persisted at most
// every Options.CursorInterval, and at once when a segment becomes
// deletable: a crash may re-deliver up to that interval's records, which
// is harmless (delivery is at least once, recordings de-duplicates) and
// saves two fsyncs per delivered batch.
func (s *Spool) Ack(next Pos, records int) error {
	s.mu.Lock()
	if !s.cursor.less(next) {
		s.mu.Unlock()
		return nil
	}
	var freed int64
	for _, seg := range s.segs {
		if seg.id < s.cursor.Seg || seg.id > next.Seg {
			continue
		}
		from, to := segHeaderLen, seg.size
		if seg.id == s.cursor.Seg {
			from = s.cursor.Off
		}
		if seg.id == next.Seg {
			to = next.Off
		}
		freed += max(to-from, 0)
	}
	s.bytes = max(s.bytes-freed, 0)
	s.records = max(s.records-int64(records), 0)
	s.cursor = next
	last := s.segs[len(s.segs)-1].id
	persist := time.Since(s.persistedAt) >= s.opts.CursorInterval
	for _, seg := range s.segs {
		if seg.id != last && (seg.id < next.Seg || seg.id == next.Seg && next.Off >= seg.size) {
			persist = true
		}
	}
	s.mu.Unlock()
	s.updateOldest(next)
	if !persist {
		return nil
	}
	return s.persistCursor()
}

// persistCursor writes the in-memory cursor and deletes the segments wholly
// before it.
func (s *Spool) persistCursor() error {
	s.mu.Lock()
	next := s.cursor
	if next == s.persisted {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.writeCursor(next); err != nil {
		return err
	}
	s.mu.Lock()
	s.persisted, s.persistedAt = next, time.Now()
	var drop []uint64
	last := s.segs[len(s.segs)-1].id
	keep := s.segs[:0]
	for _, seg := range s.segs {
		if seg.id != last && (seg.id < next.Seg || seg.id == next.Seg && next.Off >= seg.size) {
			drop = append(drop, seg.id)
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	s.mu.Unlock()
	for _, id := range drop {
		if err := os.Remove(s.segPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("spool: remove delivered segment", "error", err)
		}
		if err := os.Remove(s.idxPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("spool: remove delivered segment's index", "error", err)
		}
	}
	return nil
}

// updateOldest reads the time of the record at the cursor.
func (s *Spool) updateOldest(p Pos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records == 0 {
		s.oldest = time.Time{}
		return
	}
	if t := s.timeAt(p); !t.IsZero() {
		s.oldest = t
	}
}

// Stats returns a snapshot.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Bytes, st.Records, st.Segments, st.Oldest = s.bytes, s.records, len(s.segs), s.oldest
	st.DeadRecords, st.DeadBytes = s.deadRecords, s.deadBytes
	return st
}

// Full reports whether the spool is at its bound.
func (s *Spool) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes >= s.opts.MaxBytes
}

// Close stops the writer after the queued appends are committed.
func (s *Spool) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	<-s.stopped
	s.bgWG.Wait()
	select {
	case f := <-s.prepared:
		if f != nil {
			f.Close()
		}
	default:
	}
	err := errors.Join(s.persistCursor(), removeIfExists(s.prepPath()))
	if s.rf != nil {
		s.rf.Close()
	}
	return errors.Join(err, s.lock.Close())
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: remove %s: %w", filepath.Base(path), err)
	}
	return nil
}
