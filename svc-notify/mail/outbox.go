package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sightlinehq/sightline/platform/durablefile"
)

// Outbox errors, for the RPC layer to map (InvalidArgument, NotFound).
var (
	ErrInvalidID = errors.New("mail: not an outbox e-mail id")
	ErrNotFound  = errors.New("mail: no such outbox e-mail")
)

const (
	// DefaultOutboxMaxFiles is how many e-mails an outbox keeps by default.
	DefaultOutboxMaxFiles = 10000
	// maxOutboxFileBytes: a bigger file is no e-mail of ours (Build caps
	// bodies at 1 MiB); it is skipped, not read.
	maxOutboxFileBytes = 4 << 20
	// maxHeaderBytes bounds what List reads of each file.
	maxHeaderBytes = 64 << 10
	// MaxOutboxPage caps List's page size; defaultOutboxPage is used for 0.
	MaxOutboxPage     = 200
	defaultOutboxPage = 50
	tmpPrefix         = ".tmp-"
	timeLayout        = "20060102T150405.000000"
)

// outboxName is the only file name the outbox writes, lists or opens:
// "<UTC time to the microsecond>Z-<24 hex of sha256(Message.ID)>.eml".
// Names sort by time, and nothing else (no "..", no "/") can match.
var outboxName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{24}\.eml$`)

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	// Dir holds the .eml files; it is created if missing.
	Dir            string
	From, FromName string
	// MaxFiles is how many e-mails are kept, the oldest pruned (default
	// 10,000), so a forgotten outbox cannot fill a disk.
	MaxFiles int
	Logger   *slog.Logger
}

// Summary is one outbox e-mail as List shows it.
type Summary struct {
	// ID is the file name.
	ID, To, Subject, Kind string
	Time                  time.Time
}

// Full is one outbox e-mail with both parts.
type Full struct {
	Summary
	Text, HTML string
}

// Outbox is the Sender used when no SMTP server is configured: each
// e-mail becomes an .eml file (the same MIME the SMTP path sends), which
// the operator reads in the dashboard. It belongs to one process: the
// index of names by Message.ID that makes re-sends idempotent is kept in
// memory, built from the directory at open.
type Outbox struct {
	dir  string
	from from
	max  int
	log  *slog.Logger

	mu     sync.Mutex
	names  []string          // every e-mail's file name, oldest first
	byHash map[string]string // hash of Message.ID → file name
}

// NewOutbox opens (creating) the outbox directory, removes the temporary
// files of writes a crash interrupted, and indexes the e-mails there.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mail: outbox: no directory")
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = DefaultOutboxMaxFiles
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f, err := newFrom(cfg.From, cfg.FromName)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	o := &Outbox{dir: cfg.Dir, from: f, max: cfg.MaxFiles, log: cfg.Logger, byHash: map[string]string{}}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			// Never renamed: its write did not finish, nobody saw it.
			if err := os.Remove(filepath.Join(cfg.Dir, name)); err != nil {
				o.log.Warn("mail: outbox: removing an unfinished write", "file", name, "error", err)
			}
		case outboxName.MatchString(name) && e.Type().IsRegular():
			o.names = append(o.names, name)
		}
	}
	slices.Sort(o.names)
	for _, name := range o.names {
		o.byHash[hashOfName(name)] = name // the newest wins
	}
	o.mu.Lock()
	o.prune()
	o.mu.Unlock()
	return o, nil
}

func hashOfID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:12])
}

func hashOfName(name string) string {
	return name[len(timeLayout)+2 : len(name)-len(".eml")]
}

func nameTime(name string) time.Time {
	t, _ := time.Parse(timeLayout, name[:len(timeLayout)])
	return t
}

// Send implements Sender: it writes m to its file atomically (a temporary
// file, fsync, rename, fsync of the directory). The same Message.ID
// rewrites the same file.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now().UTC()
	msg, err := o.from.encode(m, now)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(o.dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := msg.WriteTo(f); err != nil {
		return fmt.Errorf("mail: outbox: write %s: %w", m.Kind, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("mail: outbox: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	h := hashOfID(m.ID)
	name, exists := o.byHash[h]
	if !exists {
		name = now.Format(timeLayout) + "Z-" + h + ".eml"
	}
	if err := os.Rename(tmp, filepath.Join(o.dir, name)); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	done = true
	if err := durablefile.SyncDir(o.dir); err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if !exists {
		i, _ := slices.BinarySearch(o.names, name)
		o.names = slices.Insert(o.names, i, name)
		o.byHash[h] = name
		o.prune()
	}
	return nil
}

// prune removes the oldest e-mails past the limit. o.mu is held.
func (o *Outbox) prune() {
	n := len(o.names) - o.max
	if n <= 0 {
		return
	}
	for _, name := range o.names[:n] {
		if err := os.Remove(filepath.Join(o.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.log.Warn("mail: outbox: pruning", "file", name, "error", err)
		}
		if o.byHash[hashOfName(name)] == name {
			delete(o.byHash, hashOfName(name))
		}
	}
	o.names = slices.Delete(o.names, 0, n)
}

// List returns a page of e-mails, newest first, and the token of the next
// page ("" at the end). It reads at most 4 files per e-mail asked for: a
// file that cannot be read as an e-mail is skipped with a log line.
func (o *Outbox) List(ctx context.Context, pageSize int, pageToken string) ([]Summary, string, error) {
	switch {
	case pageSize <= 0:
		pageSize = defaultOutboxPage
	case pageSize > MaxOutboxPage:
		pageSize = MaxOutboxPage
	}
	if pageToken != "" && !outboxName.MatchString(pageToken) {
		return nil, "", fmt.Errorf("%w: page token %q", ErrInvalidID, cut(pageToken, 80))
	}
	o.mu.Lock()
	end := len(o.names)
	if pageToken != "" {
		end, _ = slices.BinarySearch(o.names, pageToken) // names before the token
	}
	names := slices.Clone(o.names[max(0, end-4*pageSize):end])
	more := end-len(names) > 0
	o.mu.Unlock()

	out := make([]Summary, 0, pageSize)
	next := ""
	for i := len(names) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		s, err := o.summary(names[i])
		if err != nil {
			o.log.Warn("mail: outbox: skipping a file", "file", names[i], "error", err)
		} else {
			out = append(out, s)
		}
		if len(out) == pageSize {
			if i > 0 || more {
				next = names[i]
			}
			return out, next, nil
		}
	}
	if more && len(names) > 0 {
		next = names[0]
	}
	return out, next, nil
}

func (o *Outbox) open(name string) (*os.File, error) {
	f, err := os.Open(filepath.Join(o.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxOutboxFileBytes {
		f.Close()
		return nil, fmt.Errorf("mail: outbox: %s is not a regular file of at most %d bytes", name, maxOutboxFileBytes)
	}
	return f, nil
}

func (o *Outbox) summary(name string) (Summary, error) {
	f, err := o.open(name)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	// Only the header is needed: the body is cut off, which ReadMessage
	// does not mind since the body is never read.
	p, err := parseHeaderOnly(io.LimitReader(f, maxHeaderBytes))
	if err != nil {
		return Summary{}, err
	}
	return Summary{ID: name, To: p.To, Subject: p.Subject, Kind: p.Kind, Time: nameTime(name)}, nil
}

// Get returns one e-mail with both parts; id is a name List returned.
func (o *Outbox) Get(ctx context.Context, id string) (Full, error) {
	if !outboxName.MatchString(id) {
		return Full{}, fmt.Errorf("%w: %q", ErrInvalidID, cut(id, 80))
	}
	if err := ctx.Err(); err != nil {
		return Full{}, err
	}
	f, err := o.open(id)
	if err != nil {
		return Full{}, err
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return Full{}, fmt.Errorf("mail: outbox: %s: %w", id, err)
	}
	return Full{
		Summary: Summary{ID: id, To: p.To, Subject: p.Subject, Kind: p.Kind, Time: nameTime(id)},
		Text:    p.Text, HTML: p.HTML,
	}, nil
}
