package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Backup writes the undelivered records to dir (created; it must not
// exist) as a spool Open reads: every segment from the consumer's cursor
// up to the last committed record (each one fsync'd when Append
// returned), the cursor, and the dead-letter area. Appends and the
// consumer go on while it copies: a segment is opened before the lock is
// released, so one the consumer deletes meanwhile is still read whole.
//
// The cursor copied is the consumer's in-memory one: a record before it
// was acknowledged, so is in the store it was delivered to. Back up the
// spool before that store and nothing accepted by then is in neither.
func (s *Spool) Backup(ctx context.Context, dir string) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("spool: backup: %w", err)
	}
	type part struct {
		f    *os.File
		id   uint64
		size int64
	}
	var parts []part
	defer func() {
		for _, p := range parts {
			err = errors.Join(err, p.f.Close())
		}
	}()
	s.mu.Lock()
	cursor := s.cursor
	for _, seg := range s.segs {
		if seg.id < cursor.Seg {
			continue
		}
		f, err := os.Open(s.segPath(seg.id))
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("spool: backup: %w", err)
		}
		parts = append(parts, part{f: f, id: seg.id, size: seg.size})
	}
	s.mu.Unlock()
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(dir, fmt.Sprintf("%016x.seg", p.id)), io.NewSectionReader(p.f, 0, p.size), p.size); err != nil {
			return fmt.Errorf("spool: backup segment %016x: %w", p.id, err)
		}
	}
	if err := writeFileAtomic(dir, filepath.Join(dir, "cursor."+s.opts.Consumer), cursorBytes(cursor)); err != nil {
		return fmt.Errorf("spool: backup cursor: %w", err)
	}
	if err := format().Write(dir); err != nil {
		return fmt.Errorf("spool: backup: %w", err)
	}
	return s.backupDead(DeadDir(dir))
}

// backupDead copies the dead letters (changes to the area wait meanwhile).
func (s *Spool) backupDead(dir string) error {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	ents, err := os.ReadDir(DeadDir(s.opts.Dir))
	if err != nil {
		return fmt.Errorf("spool: backup dead letters: %w", err)
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		return fmt.Errorf("spool: backup dead letters: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".dl") {
			continue
		}
		f, err := os.Open(filepath.Join(DeadDir(s.opts.Dir), e.Name()))
		if err != nil {
			return fmt.Errorf("spool: backup dead letter: %w", err)
		}
		err = copyFile(filepath.Join(dir, e.Name()), f, -1)
		f.Close()
		if err != nil {
			return fmt.Errorf("spool: backup dead letter %s: %w", e.Name(), err)
		}
	}
	return nil
}

// copyFile writes r to a new file at path and fsyncs it; size, unless
// negative, is the length r must have.
func copyFile(path string, r io.Reader, size int64) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("copied %d bytes of %d", n, size)
	}
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}
