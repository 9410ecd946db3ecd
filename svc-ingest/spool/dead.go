package spool

// The dead-letter area holds records the consumer gave up on (refused for
// good downstream, or failing past its bound) so that they never block the
// records behind them and are never silently lost:
//
//	dead/<id>.dl       one file per record, written tmp+fsync+rename+fsync dir:
//	                   "SLDEAD01" | meta len u32 | payload len u32 | crc32c(meta‖payload) u32 | meta JSON | payload
//	dead/replay/<id>   a request (from `sightline spool dead-letter replay`) to put
//	                   record <id> back into the log; "all" asks for every one
//
// <id> is the quarantine time in unix nanoseconds, 16 hex digits, so names
// sort by age and pruning needs no reads. Only the process holding the
// spool's lock writes here; list and show only read, so they work while
// ingest runs. A replay request is a file because the running process owns
// the log: it picks requests up (ProcessReplays), appends each record to
// the log (fsync'd) and only then deletes its dead-letter file — a crash in
// between re-sends it twice, which recordings de-duplicates.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	deadMagic     = "SLDEAD01"
	deadHeaderLen = len(deadMagic) + 12
	// ReplayAll is the replay request for every dead letter.
	ReplayAll = "all"
)

// DeadLetter describes one quarantined record.
type DeadLetter struct {
	ID          string    `json:"id"`
	Received    time.Time `json:"received"`    // when ingest accepted it
	Quarantined time.Time `json:"quarantined"` // when it was moved here
	// Reason is a short category (refused, attempts_exceeded, undecodable,
	// invalid_argument); Detail says more (recordings' reason, the error).
	Reason   string `json:"reason"`
	Detail   string `json:"detail,omitempty"`
	Attempts int    `json:"attempts"`
	// What the payload is about, when the consumer could tell.
	SiteID    int64  `json:"site_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	Size      int    `json:"size"` // payload bytes
	// From is where the record was in the log: a record read again after
	// a crash (its cursor not yet persisted) is not quarantined twice.
	From Pos `json:"from"`
}

// DeadDir is the dead-letter directory of the spool in dir.
func DeadDir(dir string) string { return filepath.Join(dir, "dead") }

func replayDir(dir string) string { return filepath.Join(DeadDir(dir), "replay") }

func deadPath(dir, id string) string { return filepath.Join(DeadDir(dir), id+".dl") }

// validID guards the file names built from an operator's argument.
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := strconv.ParseUint(id, 16, 64)
	return err == nil
}

// openDead creates the area and counts what it holds (one stat per dead
// letter: they are few, and bounded by retention and DeadMaxBytes).
func (s *Spool) openDead() error {
	if err := os.MkdirAll(replayDir(s.opts.Dir), 0o750); err != nil {
		return fmt.Errorf("spool: create dead-letter dir: %w", err)
	}
	list, err := ListDead(s.opts.Dir)
	if err != nil {
		return err
	}
	s.deadFrom = map[Pos]DeadLetter{}
	for _, d := range list {
		s.deadRecords++
		s.deadBytes += int64(d.Size)
		s.lastDeadID = max(s.lastDeadID, d.ID)
		s.deadFrom[d.From] = d
	}
	return nil
}

// Quarantine moves rec into the dead-letter area: it returns once the
// record is durable there. The caller fills Reason, Detail, Attempts and
// what it knows of the payload; ID, times and Size are set here. The
// caller acknowledges rec afterwards as if delivered. A record already
// quarantined from the same position (read again after a crash) is not
// stored twice: its dead letter is returned.
func (s *Spool) Quarantine(rec Record, d DeadLetter) (DeadLetter, error) {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	if prev, ok := s.deadFrom[rec.Pos]; ok {
		if _, err := os.Stat(deadPath(s.opts.Dir, prev.ID)); err == nil {
			return prev, nil
		}
	}
	now := time.Now()
	// Unique and increasing even when two records are quarantined in the
	// same nanosecond (or the clock steps back).
	id := fmt.Sprintf("%016x", uint64(now.UnixNano()))
	if id <= s.lastDeadID {
		n, _ := strconv.ParseUint(s.lastDeadID, 16, 64)
		id = fmt.Sprintf("%016x", n+1)
	}
	d.ID, d.Received, d.Quarantined, d.Size, d.From = id, rec.Time, now, len(rec.Payload), rec.Pos
	meta, err := json.Marshal(d)
	if err != nil {
		return d, fmt.Errorf("spool: dead letter: %w", err)
	}
	b := make([]byte, 0, deadHeaderLen+len(meta)+len(rec.Payload))
	b = append(b, deadMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rec.Payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Update(crc32.Checksum(meta, castagnoli), castagnoli, rec.Payload))
	b = append(append(b, meta...), rec.Payload...)
	if err := writeFileAtomic(DeadDir(s.opts.Dir), deadPath(s.opts.Dir, id), b); err != nil {
		return d, fmt.Errorf("spool: dead letter: %w", err)
	}
	s.lastDeadID = id
	s.deadFrom[rec.Pos] = d
	s.mu.Lock()
	s.deadRecords++
	s.deadBytes += int64(d.Size)
	s.mu.Unlock()
	return d, nil
}

// ListDead reads the metadata of every dead letter of the spool in dir,
// oldest first. It takes no lock: files appear and vanish whole.
func ListDead(dir string) ([]DeadLetter, error) {
	entries, err := os.ReadDir(DeadDir(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: list dead letters: %w", err)
	}
	var out []DeadLetter
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".dl")
		if !ok || !validID(id) {
			continue
		}
		d, _, err := readDead(dir, id, false)
		if errors.Is(err, os.ErrNotExist) {
			continue // pruned or replayed meanwhile
		}
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ReadDead returns one dead letter and its payload.
func ReadDead(dir, id string) (DeadLetter, []byte, error) {
	if !validID(id) {
		return DeadLetter{}, nil, fmt.Errorf("spool: %q is not a dead-letter id (16 hex digits)", id)
	}
	return readDead(dir, id, true)
}

func readDead(dir, id string, withPayload bool) (DeadLetter, []byte, error) {
	var d DeadLetter
	f, err := os.Open(deadPath(dir, id))
	if err != nil {
		return d, nil, fmt.Errorf("spool: dead letter %s: %w", id, err)
	}
	defer f.Close()
	h := make([]byte, deadHeaderLen)
	if _, err := io.ReadFull(f, h); err != nil || string(h[:len(deadMagic)]) != deadMagic {
		return d, nil, fmt.Errorf("spool: dead letter %s: bad header", id)
	}
	metaLen := binary.LittleEndian.Uint32(h[len(deadMagic):])
	payLen := binary.LittleEndian.Uint32(h[len(deadMagic)+4:])
	if metaLen > 1<<20 || payLen > MaxRecordBytes {
		return d, nil, fmt.Errorf("spool: dead letter %s: bad lengths", id)
	}
	n := int(metaLen)
	if withPayload {
		n += int(payLen)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return d, nil, fmt.Errorf("spool: dead letter %s: %w", id, err)
	}
	if withPayload && crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(h[len(deadMagic)+8:]) {
		return d, nil, fmt.Errorf("spool: dead letter %s: checksum mismatch", id)
	}
	if err := json.Unmarshal(b[:metaLen], &d); err != nil {
		return d, nil, fmt.Errorf("spool: dead letter %s: metadata: %w", id, err)
	}
	d.ID = id
	if !withPayload {
		return d, nil, nil
	}
	return d, b[metaLen:], nil
}

// RequestReplay asks the process holding the spool in dir to put dead
// letter id (or ReplayAll) back into the log. It returns the request's
// path, which disappears once the request was carried out.
func RequestReplay(dir, id string) (string, error) {
	if id != ReplayAll {
		if !validID(id) {
			return "", fmt.Errorf("spool: %q is not a dead-letter id (16 hex digits)", id)
		}
		if _, err := os.Stat(deadPath(dir, id)); err != nil {
			return "", fmt.Errorf("spool: dead letter %s: %w", id, err)
		}
	}
	if err := os.MkdirAll(replayDir(dir), 0o750); err != nil {
		return "", fmt.Errorf("spool: replay request: %w", err)
	}
	p := filepath.Join(replayDir(dir), id)
	if err := writeFileAtomic(replayDir(dir), p, nil); err != nil {
		return "", fmt.Errorf("spool: replay request: %w", err)
	}
	return p, nil
}

// Replay puts dead letter id (or every one, for ReplayAll) back at the end
// of the log, where the consumer meets it again, and removes it from the
// dead-letter area. It returns how many were put back.
func (s *Spool) Replay(ctx context.Context, id string) (int, error) {
	var ids []string
	if id == ReplayAll {
		list, err := ListDead(s.opts.Dir)
		if err != nil {
			return 0, err
		}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
	} else {
		if !validID(id) {
			return 0, fmt.Errorf("spool: %q is not a dead-letter id (16 hex digits)", id)
		}
		ids = []string{id}
	}
	n := 0
	for _, id := range ids {
		_, payload, err := ReadDead(s.opts.Dir, id)
		if err != nil {
			return n, err
		}
		// Durable in the log before it leaves the dead-letter area.
		if err := s.Append(ctx, payload); err != nil {
			return n, fmt.Errorf("spool: replay %s: %w", id, err)
		}
		if err := s.removeDead(id, len(payload)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Spool) removeDead(id string, size int) error {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	if err := os.Remove(deadPath(s.opts.Dir, id)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("spool: remove dead letter %s: %w", id, err)
	}
	for p, d := range s.deadFrom {
		if d.ID == id {
			delete(s.deadFrom, p)
		}
	}
	s.mu.Lock()
	s.deadRecords = max(s.deadRecords-1, 0)
	s.deadBytes = max(s.deadBytes-int64(size), 0)
	s.mu.Unlock()
	return syncDir(DeadDir(s.opts.Dir))
}

// ProcessReplays carries out the pending replay requests; a request that
// fails (say, the spool is full) stays for the next call.
func (s *Spool) ProcessReplays(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(replayDir(s.opts.Dir))
	if err != nil {
		return 0, fmt.Errorf("spool: replay requests: %w", err)
	}
	total := 0
	var errs []error
	for _, e := range entries {
		id := e.Name()
		if strings.HasSuffix(id, ".tmp") {
			continue
		}
		n, err := s.Replay(ctx, id)
		total += n
		if errors.Is(err, os.ErrNotExist) {
			err = nil // already replayed or pruned: the request is done
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("spool: dead letters replayed", "request", id, "records", n)
		if err := os.Remove(filepath.Join(replayDir(s.opts.Dir), id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: remove replay request: %w", err))
		}
	}
	return total, errors.Join(errs...)
}

// PruneDead deletes dead letters quarantined more than DeadRetention ago,
// then the oldest ones while the area holds more than DeadMaxBytes. It
// returns how many went for each cause; every one is logged.
func (s *Spool) PruneDead(now time.Time) (expired, overSize int, err error) {
	list, err := ListDead(s.opts.Dir)
	if err != nil {
		return 0, 0, err
	}
	slices.SortFunc(list, func(a, b DeadLetter) int { return strings.Compare(a.ID, b.ID) })
	s.mu.Lock()
	bytes := s.deadBytes
	s.mu.Unlock()
	for _, d := range list {
		var cause string
		switch {
		case s.opts.DeadRetention > 0 && now.Sub(d.Quarantined) > s.opts.DeadRetention:
			cause = "retention"
		case bytes > s.opts.DeadMaxBytes:
			cause = "max_bytes"
		default:
			continue
		}
		if err := s.removeDead(d.ID, d.Size); err != nil {
			return expired, overSize, err
		}
		bytes -= int64(d.Size)
		if cause == "retention" {
			expired++
		} else {
			overSize++
		}
		s.log.Warn("spool: dead letter pruned", "id", d.ID, "cause", cause, "site_id", d.SiteID,
			"session_id", d.SessionID, "seq", d.Seq, "reason", d.Reason, "quarantined", d.Quarantined)
	}
	return expired, overSize, nil
}
