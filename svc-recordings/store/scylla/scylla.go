// Package scylla is the recordings store on ScyllaDB (or Cassandra) through
// the Apache gocql driver: partition (site_id, session_id), clustering
// (seq, page_view_id),
// per-row TTL from the site's retention, prepared statements (gocql
// prepares every bound statement), token-aware routing and configurable
// consistency. Idempotent statements are marked so the driver may retry
// them; the summary row is updated with a lightweight transaction on its
// version so concurrent writers of one session never lose a change.
package scylla

import (
	"bytes"
	"context"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"
	"github.com/sightlinehq/sightline/svc-recordings/heatmap"
	"github.com/sightlinehq/sightline/svc-recordings/store"
	"github.com/sightlinehq/sightline/svc-recordings/summary"
)

//go:embed migrations/*.cql
var migrationFiles embed.FS

// Config configures the store.
type Config struct {
	Hosts        []string
	Keyspace     string
	Consistency  string
	Replication  int
	Timeout      time.Duration
	PageSize     int
	Username     string
	PasswordFile string
	TombstoneTTL time.Duration
	Logger       *slog.Logger
	// Limits bound one session (zero: none).
	Limits store.Limits
}

// ParseConsistency parses a consistency name such as LOCAL_QUORUM.
func ParseConsistency(s string) (gocql.Consistency, error) {
	return gocql.ParseConsistencyWrapper(s)
}

const (
	outboxShards = 16
	dayMs        = int64(24 * time.Hour / time.Millisecond)
	// sweepLookbackDays bounds how far back Sweep looks for expiries it
	// has not reported yet.
	sweepLookbackDays = 7
	casRetries        = 8
	// chunksTable holds the chunks, clustered by (seq, page_view_id)
	// (migration 002).
	chunksTable = "chunks_v2"
)

// Store is the ScyllaDB backend of store.Store.
type Store struct {
	ex       executor
	ks       string
	tombTTL  time.Duration
	pageSize int
	limits   store.Limits
	now      func() time.Time
	close    func()

	// rebuilds are the sites whose RebuildHeat runs here.
	rebuilds    store.Rebuilds
	rebuildStep int
}

var _ store.Store = (*Store)(nil)

// Open connects, runs the migrations and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if !validName(cfg.Keyspace) {
		return nil, fmt.Errorf("scylla: keyspace %q: letters, digits and _ only", cfg.Keyspace)
	}
	cons, err := ParseConsistency(cfg.Consistency)
	if err != nil {
		return nil, fmt.Errorf("scylla: consistency: %w", err)
	}
	cl := gocql.NewCluster(cfg.Hosts...)
	cl.Consistency = cons
	cl.SerialConsistency = gocql.LocalSerial
	cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	if cfg.Timeout > 0 {
		cl.Timeout = cfg.Timeout
		cl.ConnectTimeout = cfg.Timeout
	}
	if cfg.Username != "" {
		pw, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("scylla: password file: %w", err)
		}
		cl.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: strings.TrimSpace(string(pw))}
	}
	sess, err := cl.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("scylla: connect %v: %w", cfg.Hosts, err)
	}
	s := newStore(&gocqlExec{s: sess, consistency: cons}, cfg)
	s.close = sess.Close
	if err := s.migrate(ctx, max(cfg.Replication, 1), cfg.Logger); err != nil {
		sess.Close()
		return nil, err
	}
	return s, nil
}

func newStore(ex executor, cfg Config) *Store {
	s := &Store{
		ex: ex, ks: cfg.Keyspace, tombTTL: cfg.TombstoneTTL, pageSize: cfg.PageSize, limits: cfg.Limits, now: time.Now, close: func() {},
		rebuildStep: 200,
	}
	if s.tombTTL <= 0 {
		s.tombTTL = 30 * 24 * time.Hour
	}
	if s.pageSize <= 0 {
		s.pageSize = 16
	}
	return s
}

func validName(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Migration is one versioned schema change.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations returns the embedded migrations in version order, with the
// keyspace filled in.
func Migrations(keyspace string) ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.cql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("scylla: migration %s: name must start with its version", base)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		m := Migration{Version: v, Name: base}
		for _, st := range strings.Split(stripComments(string(b)), ";") {
			if st = strings.TrimSpace(st); st != "" {
				m.Statements = append(m.Statements, strings.ReplaceAll(st, "{{keyspace}}", keyspace))
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// migrate creates the keyspace and applies the migrations not yet recorded
// in schema_migrations, in order.
func (s *Store) migrate(ctx context.Context, rf int, log *slog.Logger) error {
	stmts := []Stmt{
		{CQL: fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': %d}", s.ks, rf), Idempotent: true},
		{CQL: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)", s.ks), Idempotent: true},
	}
	for _, st := range stmts {
		if err := s.ex.Exec(ctx, st); err != nil {
			return fmt.Errorf("scylla: migrate: %w", err)
		}
	}
	applied := map[int]bool{}
	it := s.ex.Iter(ctx, Stmt{CQL: fmt.Sprintf("SELECT version FROM %s.schema_migrations", s.ks), Idempotent: true})
	var v int
	for it.Scan(&v) {
		applied[v] = true
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scylla: migrate: %w", err)
	}
	ms, err := Migrations(s.ks)
	if err != nil {
		return fmt.Errorf("scylla: migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for _, st := range m.Statements {
			if err := s.ex.Exec(ctx, Stmt{CQL: st, Idempotent: true}); err != nil {
				return fmt.Errorf("scylla: migration %s: %w", m.Name, err)
			}
		}
		err := s.ex.Exec(ctx, Stmt{
			CQL:  fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", s.ks),
			Args: []any{m.Version, m.Name, s.now()}, Idempotent: true,
		})
		if err != nil {
			return fmt.Errorf("scylla: migration %s: %w", m.Name, err)
		}
		if log != nil {
			log.InfoContext(ctx, "scylla: migration applied", "version", m.Version, "name", m.Name)
		}
	}
	return nil
}

// Close closes the session.
func (s *Store) Close() error { s.close(); return nil }

// Ping asks the coordinator for its version.
func (s *Store) Ping(ctx context.Context) error {
	it := s.ex.Iter(ctx, Stmt{CQL: "SELECT release_version FROM system.local", Idempotent: true})
	var v string
	it.Scan(&v)
	if err := it.Close(); err != nil {
		return fmt.Errorf("scylla: ping: %w", err)
	}
	return nil
}

// ttl is the seconds until expiresMs (at least 1), or 0 for no expiry.
func (s *Store) ttl(expiresMs int64) int {
	if expiresMs <= 0 {
		return 0
	}
	return int(max((expiresMs-s.now().UnixMilli()+999)/1000, 1))
}

// rowTTL is the TTL of chunks, session rows and the site's session list:
// the expiry plus the sweep's look-back. Reads treat a session as gone at
// its expiry; the sweep deletes it then, subtracting its heatmap
// aggregates from its stats (counters carry no TTL), and the TTL only
// catches what no sweep reached.
func (s *Store) rowTTL(expiresMs int64) int {
	if expiresMs <= 0 {
		return 0
	}
	return s.ttl(expiresMs + sweepLookbackDays*dayMs)
}

func (s *Store) t(name string) string { return s.ks + "." + name }

type sessionRow struct {
	state     *summary.State
	version   int64
	outboxed  int64
	visitor   string
	createdMs int64
	expiresMs int64
	// endedMs is when the session was ended (zero: open); ending.go.
	endedMs int64
}

// summary is the session's summary as stored: the fold, its version and
// its end.
func (r *sessionRow) summary(site int64, session string) *sessionsv1.SessionSummary {
	return r.state.Stored(site, session, r.version, r.endedMs)
}

func (s *Store) loadRow(ctx context.Context, site int64, session string) (*sessionRow, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT state, version, outboxed_version, visitor_id, created_ms, expires_ms, ended_ms FROM " + s.t("sessions") + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true,
	})
	var r sessionRow
	var state []byte
	found := it.Scan(&state, &r.version, &r.outboxed, &r.visitor, &r.createdMs, &r.expiresMs, &r.endedMs)
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: load session: %w", err)
	}
	if !found {
		return nil, nil
	}
	st, err := summary.UnmarshalState(state)
	if err != nil {
		return nil, err
	}
	r.state = st
	return &r, nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, chunks []store.Chunk) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(chunks))
	type key struct {
		site    int64
		session string
	}
	groups := map[key][]int{}
	var order []key
	for i, c := range chunks {
		k := key{c.SiteID, c.SessionID}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		if err := s.appendSession(ctx, k.site, k.session, groups[k], chunks, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (s *Store) tombstoned(ctx context.Context, site int64, session string) (bool, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT session_id FROM " + s.t("tombstones") + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true,
	})
	var x string
	found := it.Scan(&x)
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("scylla: tombstone: %w", err)
	}
	return found, nil
}

type chunkKey struct {
	seq int64
	pv  string
}

// existingKeys answers which of the given seqs' chunks are stored: one IN
// query on the first clustering column, the page views matched here.
func (s *Store) existingKeys(ctx context.Context, site int64, session string, seqs []int64) (map[chunkKey]bool, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT seq, page_view_id FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ? AND seq IN ?",
		Args: []any{site, session, seqs}, Idempotent: true,
	})
	out := map[chunkKey]bool{}
	var k chunkKey
	for it.Scan(&k.seq, &k.pv) {
		out[k] = true
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: existing chunks: %w", err)
	}
	return out, nil
}

func (s *Store) appendSession(ctx context.Context, site int64, session string, idx []int, chunks []store.Chunk, res []store.AppendResult) error {
	if dead, err := s.tombstoned(ctx, site, session); err != nil || dead {
		return err
	}
	// Distinct keys of the call, first occurrence wins.
	var first []int
	seen := map[chunkKey]bool{}
	var seqs []int64
	for _, i := range idx {
		k := chunkKey{chunks[i].Seq, chunks[i].PageViewID}
		if !seen[k] {
			seen[k] = true
			first = append(first, i)
			if !slices.Contains(seqs, k.seq) {
				seqs = append(seqs, k.seq)
			}
		}
	}
	have, err := s.existingKeys(ctx, site, session, seqs)
	if err != nil {
		return err
	}
	var cand []int
	dups := false
	for _, i := range first {
		if have[chunkKey{chunks[i].Seq, chunks[i].PageViewID}] {
			dups = true
			continue
		}
		cand = append(cand, i)
	}
	// Admitted in key order, so which chunks a full session refuses does
	// not depend on the order inside the call.
	slices.SortFunc(cand, func(a, b int) int {
		return summary.CompareKey(chunks[a].Seq, chunks[a].PageViewID, chunks[b].Seq, chunks[b].PageViewID)
	})
	var n, raw int64
	if len(cand) > 0 && s.limits != (store.Limits{}) {
		row, err := s.loadRow(ctx, site, session)
		if err != nil {
			return err
		}
		if row != nil {
			n, raw = int64(row.state.Chunks), row.state.RawBytes
		}
		if row != nil && row.endedMs > 0 {
			// Chunks since the end are in no state: count them all.
			if n, err = s.countChunks(ctx, site, session); err != nil {
				return err
			}
		}
	}
	var fresh []store.Chunk
	for _, i := range cand {
		if err := s.limits.Admit(n, raw, chunks[i].Stats.RawBytes); err != nil {
			res[i].Refused = err
			continue
		}
		n, raw = n+1, raw+chunks[i].Stats.RawBytes
		res[i].Stored = true
		fresh = append(fresh, chunks[i])
	}
	// Chunks first: they are idempotent, and a crash after them is healed by
	// the re-delivery (a duplicate refolds the summary below).
	for _, c := range fresh {
		if err := s.ex.Exec(ctx, s.insertChunk(site, session, c)); err != nil {
			return fmt.Errorf("scylla: append chunk: %w", err)
		}
	}
	var serverMs int64
	for _, c := range fresh {
		serverMs = max(serverMs, c.Stats.ServerMs)
	}
	if serverMs > 0 {
		if err := s.ex.Exec(ctx, s.siteActivity(site, serverMs)); err != nil {
			return fmt.Errorf("scylla: site activity: %w", err)
		}
	}
	for _, st := range s.snapshotStmts(site, session, fresh) {
		if err := s.ex.Exec(ctx, st); err != nil {
			return fmt.Errorf("scylla: heatmap snapshot: %w", err)
		}
	}
	heat := heatmap.Deltas{}
	for range casRetries {
		done, err := s.updateSummary(ctx, site, session, fresh, dups, heat)
		if err != nil {
			return err
		}
		if done {
			// Heatmaps after the summary: its change and the fresh chunks'.
			for i := range fresh {
				heatmap.AddChunk(heat, &fresh[i].Stats, 1)
			}
			return s.applyHeat(ctx, site, session, heat)
		}
	}
	return fmt.Errorf("scylla: session %d/%s: too many concurrent summary updates", site, session)
}

func (s *Store) insertChunk(site int64, session string, c store.Chunk) Stmt {
	st, _ := c.Stats.Marshal()
	return Stmt{
		CQL: "INSERT INTO " + s.t(chunksTable) + " (site_id, session_id, seq, page_view_id, first_ms, last_ms, full_snapshot_ms, data, stats) " +
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
		Args:       []any{site, session, c.Seq, c.PageViewID, c.Stats.FirstMs, c.Stats.LastMs, c.Stats.FullSnapshotMs, c.Data, st, s.rowTTL(c.Stats.ExpiresMs)},
		Idempotent: true,
	}
}

func (s *Store) siteActivity(site, serverMs int64) Stmt {
	// The write timestamp is the chunk's time: the highest one wins, so
	// concurrent and re-ordered writes leave the maximum.
	return Stmt{
		CQL:        "INSERT INTO " + s.t("site_activity") + " (site_id, last_chunk_ms) VALUES (?, ?) USING TIMESTAMP ?",
		Args:       []any{site, serverMs, serverMs * 1000},
		Idempotent: true,
	}
}

func (s *Store) allStats(ctx context.Context, site int64, session string) ([]summary.ChunkStats, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT stats FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true, PageSize: 500,
	})
	var out []summary.ChunkStats
	var b []byte
	for it.Scan(&b) {
		st, err := summary.UnmarshalStats(b)
		if err != nil {
			it.Close()
			return nil, err
		}
		out = append(out, st)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: read stats: %w", err)
	}
	return out, nil
}

// updateSummary folds the new chunks into the session row with a
// compare-and-set on its version; false means another writer won (retry).
// When it stores a new state, it adds the change of the state's heatmap
// part (heatmap.AddStateChange) to heat.
func (s *Store) updateSummary(ctx context.Context, site int64, session string, fresh []store.Chunk, dups bool, heat heatmap.Deltas) (bool, error) {
	row, err := s.loadRow(ctx, site, session)
	if err != nil {
		return false, err
	}
	if row != nil && row.endedMs > 0 {
		return true, nil // final (store.Ending): the caller adds the chunks' heat
	}
	// The old state's part and last activity, before the in-order path
	// folds into it.
	var before heatmap.StatePart
	var stored *summary.State
	oldActive := int64(-1)
	if row != nil {
		stored = row.state
		before = heatmap.PartOf(stored)
		oldActive = stored.LastActivityMs()
	}
	stats := make([]*summary.ChunkStats, len(fresh))
	for i := range fresh {
		stats[i] = &fresh[i].Stats
	}
	step, err := summary.Advance(site, session, stored, stats, dups, summary.Sources{
		All:     func() ([]summary.ChunkStats, error) { return s.allStats(ctx, site, session) },
		Answers: func() (*summary.AnswerTally, error) { return s.answerTally(ctx, site, session) },
	})
	if err != nil || step.State == nil {
		return err == nil, err
	}
	state := step.State
	sum := state.Summary(site, session)
	if !step.Changed {
		if row.outboxed < row.version {
			// A crash left the last change out of the outbox: record it now.
			sum.Version = row.version
			return true, s.recordChange(ctx, site, session, row, sum, state, true)
		}
		return true, nil
	}
	enc, err := state.Marshal()
	if err != nil {
		return false, err
	}
	var applied bool
	if row == nil {
		sum.Version = 1
		createdMs := s.now().UnixMilli()
		applied, err = s.ex.ExecCAS(ctx, Stmt{
			CQL: "INSERT INTO " + s.t("sessions") + " (site_id, session_id, state, version, outboxed_version, visitor_id, created_ms, expires_ms) " +
				"VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
			Args:   []any{site, session, enc, int64(1), int64(0), state.VisitorID, createdMs, state.ExpiresMs, s.rowTTL(state.ExpiresMs)},
			Serial: true,
		})
		row = &sessionRow{createdMs: createdMs}
	} else {
		sum.Version = row.version + 1
		applied, err = s.ex.ExecCAS(ctx, Stmt{
			CQL: "UPDATE " + s.t("sessions") + " USING TTL ? SET state = ?, version = ?, visitor_id = ?, created_ms = ?, expires_ms = ? " +
				"WHERE site_id = ? AND session_id = ? IF version = ?",
			Args:   []any{s.rowTTL(state.ExpiresMs), enc, sum.Version, state.VisitorID, row.createdMs, state.ExpiresMs, site, session, row.version},
			Serial: true,
		})
	}
	if err != nil {
		return false, fmt.Errorf("scylla: update summary: %w", err)
	}
	if !applied {
		return false, nil
	}
	heatmap.AddStateChange(heat, before, state)
	return true, s.recordChange(ctx, site, session, row, sum, state, state.LastActivityMs() != oldActive)
}

// recordChange writes the outbox entry and the indexes of a summary change
// in one logged batch, then marks the version as recorded. active says the
// change moved the session's last activity (or may have: a change recorded
// after a crash), which the open index then gets.
func (s *Store) recordChange(ctx context.Context, site int64, session string, row *sessionRow, sum *sessionsv1.SessionSummary, state *summary.State, active bool) error {
	payload, err := proto.Marshal(sum)
	if err != nil {
		return err
	}
	ttl := s.ttl(state.ExpiresMs)
	b := []Stmt{
		s.outboxInsert(ctx, site, session, store.OutboxUpsert, payload),
		{CQL: "INSERT INTO " + s.t("sessions_by_site") + " (site_id, session_id) VALUES (?, ?) USING TTL ?", Args: []any{site, session, s.rowTTL(state.ExpiresMs)}, Idempotent: true},
		{CQL: "INSERT INTO " + s.t("sessions_by_visitor") + " (site_id, visitor_id, session_id) VALUES (?, ?, ?) USING TTL ?", Args: []any{site, state.VisitorID, session, ttl}, Idempotent: true},
		{CQL: "INSERT INTO " + s.t("sessions_begun") + " (site_id, day, created_ms, session_id) VALUES (?, ?, ?, ?) USING TTL ?", Args: []any{site, row.createdMs / dayMs, row.createdMs, session, ttl}, Idempotent: true},
		{CQL: "UPDATE " + s.t("sessions") + " USING TTL ? SET outboxed_version = ? WHERE site_id = ? AND session_id = ?", Args: []any{s.rowTTL(state.ExpiresMs), sum.Version, site, session}, Idempotent: true},
	}
	if state.ExpiresMs > 0 {
		if row.expiresMs > 0 && row.expiresMs != state.ExpiresMs {
			b = append(b, s.expiryDelete(row.expiresMs, site, session))
		}
		b = append(b, Stmt{
			CQL:        "INSERT INTO " + s.t("expiry") + " (day, expires_ms, site_id, session_id) VALUES (?, ?, ?, ?) USING TTL ?",
			Args:       []any{state.ExpiresMs / dayMs, state.ExpiresMs, site, session, ttl + sweepLookbackDays*86400},
			Idempotent: true,
		})
	}
	b = append(b, s.coldMove(site, session, row, state, ttl+sweepLookbackDays*86400)...)
	if row.endedMs == 0 && (sum.Version == 1 || active) {
		// The open index (ending.go): the session's first version, and
		// each that moves its last activity.
		b = append(b, s.openInsert(site, session, state.ExpiresMs, state.LastActivityMs()))
	}
	if row.visitor != "" && row.visitor != state.VisitorID {
		b = append(b, Stmt{CQL: "DELETE FROM " + s.t("sessions_by_visitor") + " WHERE site_id = ? AND visitor_id = ? AND session_id = ?", Args: []any{site, row.visitor, session}, Idempotent: true})
	}
	if err := s.ex.Batch(ctx, b); err != nil {
		return fmt.Errorf("scylla: record summary change: %w", err)
	}
	return nil
}

func (s *Store) expiryDelete(expiresMs, site int64, session string) Stmt {
	return s.dayIndexDelete("expiry", "expires_ms", expiresMs, site, session)
}

// dayIndexDelete deletes a session's row of an index by day (the expiry
// or the cold one), whose time column timeCol holds ms.
func (s *Store) dayIndexDelete(table, timeCol string, ms, site int64, session string) Stmt {
	return Stmt{
		CQL:        "DELETE FROM " + s.t(table) + " WHERE day = ? AND " + timeCol + " = ? AND site_id = ? AND session_id = ?",
		Args:       []any{ms / dayMs, ms, site, session},
		Idempotent: true,
	}
}

func shardOf(site int64, session string) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", site, session)
	return int(h.Sum32() % outboxShards)
}

// outboxInsert is not idempotent: a retried insert would add a second
// entry (harmless for search, but it is not the same statement twice).
func (s *Store) outboxInsert(ctx context.Context, site int64, session string, kind store.OutboxKind, payload []byte) Stmt {
	return Stmt{
		CQL:  "INSERT INTO " + s.t("outbox") + " (shard, id, kind, site_id, payload, traceparent) VALUES (?, ?, ?, ?, ?, ?)",
		Args: []any{shardOf(site, session), gocql.TimeUUID(), int(kind), site, payload, store.Traceparent(ctx)},
	}
}

// Session implements store.Store.
func (s *Store) Session(ctx context.Context, site int64, session string) (*sessionsv1.SessionSummary, error) {
	row, err := s.loadRow(ctx, site, session)
	if err != nil {
		return nil, err
	}
	if row == nil || (row.expiresMs > 0 && row.expiresMs <= s.now().UnixMilli()) {
		return nil, store.ErrNotFound
	}
	return row.summary(site, session), nil
}

// SessionDetail implements store.Store: one read of the session row.
func (s *Store) SessionDetail(ctx context.Context, site int64, session string) (*sessionsv1.SessionSummary, []*recordingsv1.Frustration, error) {
	row, err := s.loadRow(ctx, site, session)
	if err != nil {
		return nil, nil, err
	}
	if row == nil || (row.expiresMs > 0 && row.expiresMs <= s.now().UnixMilli()) {
		return nil, nil, store.ErrNotFound
	}
	return row.summary(site, session), row.state.FrustrationList(), nil
}

// ChunkIndex implements store.Store.
func (s *Store) ChunkIndex(ctx context.Context, site int64, session string) ([]store.ChunkMeta, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT seq, page_view_id, first_ms, last_ms, full_snapshot_ms FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ?",
		Args: []any{site, session}, Idempotent: true, PageSize: 1000,
	})
	var out []store.ChunkMeta
	var m store.ChunkMeta
	for it.Scan(&m.Seq, &m.PageViewID, &m.FirstMs, &m.LastMs, &m.FullSnapshotMs) {
		out = append(out, m)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: chunk index: %w", err)
	}
	return out, nil
}

// ReadChunks implements store.Store: one partition scan, paged.
func (s *Store) ReadChunks(ctx context.Context, site int64, session string, from int64, fn func(store.StoredChunk) error) error {
	it := s.ex.Iter(ctx, s.readChunks(site, session, from))
	for {
		var c store.StoredChunk
		if !it.Scan(&c.Seq, &c.PageViewID, &c.FirstMs, &c.LastMs, &c.Data) {
			break
		}
		if c.Data == nil {
			continue // moved to object storage (DropChunkData)
		}
		if err := fn(c); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scylla: read chunks: %w", err)
	}
	return nil
}

func (s *Store) readChunks(site int64, session string, from int64) Stmt {
	return Stmt{
		CQL:  "SELECT seq, page_view_id, first_ms, last_ms, data FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ? AND seq >= ?",
		Args: []any{site, session, max(from, 0)}, Idempotent: true, PageSize: s.pageSize,
	}
}

// ListSessions implements store.Store. For one site the token is the last
// session id; across sites it is the driver's paging state.
func (s *Store) ListSessions(ctx context.Context, site int64, token string, limit int) (store.Page, error) {
	raw, err := hex.DecodeString(token)
	if err != nil {
		return store.Page{}, fmt.Errorf("scylla: list sessions: %w", store.ErrBadToken)
	}
	var page store.Page
	if site == 0 {
		it := s.ex.Iter(ctx, Stmt{
			CQL:      "SELECT site_id, session_id, state, version, expires_ms, ended_ms FROM " + s.t("sessions"),
			PageSize: limit, SinglePage: true, PageState: raw, Idempotent: true,
		})
		next := it.PageState()
		var ksite, ver, exp, ended int64
		var ksess string
		var state []byte
		nowMs := s.now().UnixMilli()
		for it.Scan(&ksite, &ksess, &state, &ver, &exp, &ended) {
			if exp > 0 && exp <= nowMs {
				continue
			}
			st, err := summary.UnmarshalState(state)
			if err != nil {
				it.Close()
				return store.Page{}, err
			}
			r := sessionRow{state: st, version: ver, endedMs: ended}
			page.Sessions = append(page.Sessions, r.summary(ksite, ksess))
		}
		if err := it.Close(); err != nil {
			return store.Page{}, fmt.Errorf("scylla: list sessions: %w", err)
		}
		page.Next = hex.EncodeToString(next)
		return page, nil
	}
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT session_id FROM " + s.t("sessions_by_site") + " WHERE site_id = ? AND session_id > ? LIMIT ?",
		Args: []any{site, string(raw), limit + 1}, Idempotent: true,
	})
	var ids []string
	var id string
	for it.Scan(&id) {
		ids = append(ids, id)
	}
	if err := it.Close(); err != nil {
		return store.Page{}, fmt.Errorf("scylla: list sessions: %w", err)
	}
	if len(ids) > limit {
		ids = ids[:limit]
		page.Next = hex.EncodeToString([]byte(ids[limit-1]))
	}
	for _, id := range ids {
		sum, err := s.Session(ctx, site, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Page{}, err
		}
		page.Sessions = append(page.Sessions, sum)
	}
	return page, nil
}

// deleteStmts removes one session and leaves a tombstone.
func (s *Store) deleteStmts(site int64, session string, row *sessionRow) []Stmt {
	out := []Stmt{
		{CQL: "DELETE FROM " + s.t(chunksTable) + " WHERE site_id = ? AND session_id = ?", Args: []any{site, session}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("sessions") + " WHERE site_id = ? AND session_id = ?", Args: []any{site, session}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("sessions_by_site") + " WHERE site_id = ? AND session_id = ?", Args: []any{site, session}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("sessions_by_visitor") + " WHERE site_id = ? AND visitor_id = ? AND session_id = ?", Args: []any{site, row.visitor, session}, Idempotent: true},
		{CQL: "DELETE FROM " + s.t("sessions_begun") + " WHERE site_id = ? AND day = ? AND created_ms = ? AND session_id = ?", Args: []any{site, row.createdMs / dayMs, row.createdMs, session}, Idempotent: true},
		{CQL: "INSERT INTO " + s.t("tombstones") + " (site_id, session_id) VALUES (?, ?) USING TTL ?", Args: []any{site, session, int(s.tombTTL / time.Second)}, Idempotent: true},
		s.openDelete(site, session),
	}
	if row.expiresMs > 0 {
		out = append(out, s.expiryDelete(row.expiresMs, site, session))
	}
	if row.state != nil && row.state.ColdMs > 0 {
		out = append(out, s.coldDelete(row.state.ColdMs, site, session))
	}
	return out
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, site int64, session string) error {
	row, err := s.loadRow(ctx, site, session)
	if err != nil {
		return err
	}
	if row == nil {
		return store.ErrNotFound
	}
	heat := heatmap.Deltas{}
	if _, err := s.sessionHeat(ctx, heat, site, session, row, -1); err != nil {
		return err
	}
	b := append(s.deleteStmts(site, session, row), s.outboxDeleteSessions(ctx, site, session))
	if err := s.ex.Batch(ctx, b); err != nil {
		return fmt.Errorf("scylla: delete session: %w", err)
	}
	return s.applyHeat(ctx, site, session, heat)
}

func (s *Store) outboxDeleteSessions(ctx context.Context, site int64, sessions ...string) Stmt {
	payload, _ := proto.Marshal(&sessionsv1.SessionSummary{SiteId: site, SessionId: strings.Join(sessions, ",")})
	return s.outboxInsert(ctx, site, sessions[0], store.OutboxDeleteSessions, payload)
}

// DeleteVisitor implements store.Store.
func (s *Store) DeleteVisitor(ctx context.Context, site int64, visitor string) ([]string, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT session_id FROM " + s.t("sessions_by_visitor") + " WHERE site_id = ? AND visitor_id = ?",
		Args: []any{site, visitor}, Idempotent: true,
	})
	var ids []string
	var id string
	for it.Scan(&id) {
		ids = append(ids, id)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("scylla: delete visitor: %w", err)
	}
	var deleted []string
	for _, id := range ids {
		row, err := s.loadRow(ctx, site, id)
		if err != nil {
			return deleted, err
		}
		heat := heatmap.Deltas{}
		if row == nil {
			row = &sessionRow{visitor: visitor}
		} else {
			deleted = append(deleted, id)
			if _, err := s.sessionHeat(ctx, heat, site, id, row, -1); err != nil {
				return deleted, err
			}
		}
		if err := s.ex.Batch(ctx, s.deleteStmts(site, id, row)); err != nil {
			return deleted, fmt.Errorf("scylla: delete visitor: %w", err)
		}
		if err := s.applyHeat(ctx, site, id, heat); err != nil {
			return deleted, err
		}
	}
	payload, _ := proto.Marshal(&sessionsv1.SessionSummary{SiteId: site, VisitorId: visitor})
	if err := s.ex.Exec(ctx, s.outboxInsert(ctx, site, visitor, store.OutboxDeleteVisitor, payload)); err != nil {
		return deleted, fmt.Errorf("scylla: delete visitor: %w", err)
	}
	return deleted, nil
}

// SiteActivity implements store.Store.
func (s *Store) SiteActivity(ctx context.Context, site int64, since time.Time) (time.Time, int64, error) {
	it := s.ex.Iter(ctx, Stmt{CQL: "SELECT last_chunk_ms FROM " + s.t("site_activity") + " WHERE site_id = ?", Args: []any{site}, Idempotent: true})
	var lastMs int64
	it.Scan(&lastMs)
	if err := it.Close(); err != nil {
		return time.Time{}, 0, fmt.Errorf("scylla: site activity: %w", err)
	}
	var last time.Time
	if lastMs > 0 {
		last = time.UnixMilli(lastMs)
	}
	sinceMs := max(since.UnixMilli(), 0)
	var n int64
	for day := sinceMs / dayMs; day <= s.now().UnixMilli()/dayMs; day++ {
		it := s.ex.Iter(ctx, Stmt{
			CQL:  "SELECT COUNT(*) FROM " + s.t("sessions_begun") + " WHERE site_id = ? AND day = ? AND created_ms >= ?",
			Args: []any{site, day, sinceMs}, Idempotent: true,
		})
		var c int64
		it.Scan(&c)
		if err := it.Close(); err != nil {
			return time.Time{}, 0, fmt.Errorf("scylla: site activity: %w", err)
		}
		n += c
	}
	return last, n, nil
}

// Sweep implements store.Store. The TTL has removed the data already; the
// sweep reports the expired sessions to search through the outbox and
// drops their expiry rows.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	return s.sweepExpired(ctx, "expiry", "session_id", "sweep", now, func(v expired) (int, error) {
		row, err := s.loadRow(ctx, v.site, v.id)
		if err != nil {
			return 0, err
		}
		b := []Stmt{s.expiryDelete(v.exp, v.site, v.id)}
		if row != nil && row.expiresMs != v.exp {
			// Extended by a later chunk: only the stale index row goes.
			if err := s.ex.Batch(ctx, b); err != nil {
				return 0, fmt.Errorf("scylla: sweep: %w", err)
			}
			return 0, nil
		}
		heat := heatmap.Deltas{}
		if row != nil {
			b = s.deleteStmts(v.site, v.id, row) // includes the expiry row
			if _, err := s.sessionHeat(ctx, heat, v.site, v.id, row, -1); err != nil {
				return 0, err
			}
		}
		b = append(b, s.outboxDeleteSessions(ctx, v.site, v.id))
		if err := s.ex.Batch(ctx, b); err != nil {
			return 0, fmt.Errorf("scylla: sweep: %w", err)
		}
		if err := s.applyHeat(ctx, v.site, v.id, heat); err != nil {
			return 0, err
		}
		return 1, nil
	})
}

// sweepExpired hands each row of an expiry table (the sessions' or the
// answers') due by now, over the last sweepLookbackDays days, to drop,
// which answers how many objects it removed; what names the sweep in
// errors.
func (s *Store) sweepExpired(ctx context.Context, table, idCol, what string, now time.Time, drop func(expired) (int, error)) (int, error) {
	nowMs := now.UnixMilli()
	n := 0
	for day := nowMs/dayMs - sweepLookbackDays; day <= nowMs/dayMs; day++ {
		vs, err := s.expiredOn(ctx, table, "expires_ms", idCol, day, nowMs)
		if err != nil {
			return n, fmt.Errorf("scylla: %s: %w", what, err)
		}
		for _, v := range vs {
			d, err := drop(v)
			if err != nil {
				return n, err
			}
			n += d
		}
	}
	return n, nil
}

// expired is one row of an expiry table: what expires when.
type expired struct {
	exp, site int64
	id        string
}

// expiredOn reads one day's rows of an expiry table (the sessions' or the
// answers', or the cold index; timeCol naming when, idCol what) up to
// nowMs.
func (s *Store) expiredOn(ctx context.Context, table, timeCol, idCol string, day, nowMs int64) ([]expired, error) {
	it := s.ex.Iter(ctx, Stmt{
		CQL:  "SELECT " + timeCol + ", site_id, " + idCol + " FROM " + s.t(table) + " WHERE day = ? AND " + timeCol + " <= ?",
		Args: []any{day, nowMs}, Idempotent: true, PageSize: 1000,
	})
	var out []expired
	var x expired
	for it.Scan(&x.exp, &x.site, &x.id) {
		out = append(out, x)
	}
	return out, it.Close()
}

// OutboxPending implements store.Store: the oldest entries of every shard,
// merged by time (a session's entries share a shard, so they stay in
// order).
func (s *Store) OutboxPending(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	return s.outboxPending(ctx, "outbox", "outbox", limit, decodeOutbox)
}

// outboxPending reads the oldest limit entries of an outbox table (the
// sessions' or the answers', named what in errors), merged across shards
// by time.
func (s *Store) outboxPending(ctx context.Context, table, what string, limit int, decode func(shard int, id gocql.UUID, kind int, site int64, payload []byte) (store.OutboxEntry, error)) ([]store.OutboxEntry, error) {
	type item struct {
		id gocql.UUID
		e  store.OutboxEntry
	}
	var all []item
	for shard := range outboxShards {
		it := s.ex.Iter(ctx, Stmt{
			CQL:  "SELECT id, kind, site_id, payload, traceparent FROM " + s.t(table) + " WHERE shard = ? LIMIT ?",
			Args: []any{shard, limit}, Idempotent: true,
		})
		var id gocql.UUID
		var kind int
		var site int64
		var payload []byte
		var traceparent *string // null in rows older than migration 006
		for it.Scan(&id, &kind, &site, &payload, &traceparent) {
			e, err := decode(shard, id, kind, site, payload)
			if err != nil {
				it.Close()
				return nil, err
			}
			if traceparent != nil {
				e.Traceparent = *traceparent
			}
			all = append(all, item{id, e})
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("scylla: %s pending: %w", what, err)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		ti, tj := all[i].id.Timestamp(), all[j].id.Timestamp()
		if ti != tj {
			return ti < tj
		}
		return bytes.Compare(all[i].id.Bytes(), all[j].id.Bytes()) < 0
	})
	out := make([]store.OutboxEntry, 0, min(limit, len(all)))
	for _, it := range all[:min(limit, len(all))] {
		out = append(out, it.e)
	}
	return out, nil
}

func decodeOutbox(shard int, id gocql.UUID, kind int, site int64, payload []byte) (store.OutboxEntry, error) {
	e := store.OutboxEntry{ID: strconv.Itoa(shard) + "/" + id.String(), Kind: store.OutboxKind(kind), SiteID: site}
	var sum sessionsv1.SessionSummary
	if err := proto.Unmarshal(payload, &sum); err != nil {
		return e, fmt.Errorf("scylla: outbox entry %s: %w", e.ID, err)
	}
	switch e.Kind {
	case store.OutboxUpsert:
		e.Summary = &sum
	case store.OutboxDeleteSessions:
		e.SessionIDs = strings.Split(sum.GetSessionId(), ",")
	case store.OutboxDeleteVisitor:
		e.VisitorID = sum.GetVisitorId()
	}
	return e, nil
}

// OutboxAck implements store.Store.
func (s *Store) OutboxAck(ctx context.Context, entries []store.OutboxEntry) error {
	if err := s.outboxAck(ctx, "outbox", entries); err != nil {
		return fmt.Errorf("scylla: outbox ack: %w", err)
	}
	return nil
}

// outboxAck deletes the given entries (ids "shard/uuid") of an outbox
// table.
func (s *Store) outboxAck(ctx context.Context, table string, entries []store.OutboxEntry) error {
	for _, e := range entries {
		shard, id, ok := strings.Cut(e.ID, "/")
		sh, err := strconv.Atoi(shard)
		if !ok || err != nil {
			return fmt.Errorf("bad id %q", e.ID)
		}
		u, err := gocql.ParseUUID(id)
		if err != nil {
			return fmt.Errorf("bad id %q", e.ID)
		}
		if err := s.ex.Exec(ctx, Stmt{CQL: "DELETE FROM " + s.t(table) + " WHERE shard = ? AND id = ?", Args: []any{sh, u}, Idempotent: true}); err != nil {
			return err
		}
	}
	return nil
}

// OutboxDepth implements store.Store.
func (s *Store) OutboxDepth(ctx context.Context) (int64, error) {
	n, err := s.outboxDepth(ctx, "outbox")
	if err != nil {
		return 0, fmt.Errorf("scylla: outbox depth: %w", err)
	}
	return n, nil
}

// outboxDepth counts an outbox table's entries, shard by shard.
func (s *Store) outboxDepth(ctx context.Context, table string) (int64, error) {
	var n int64
	for shard := range outboxShards {
		it := s.ex.Iter(ctx, Stmt{CQL: "SELECT COUNT(*) FROM " + s.t(table) + " WHERE shard = ?", Args: []any{shard}, Idempotent: true})
		var c int64
		it.Scan(&c)
		if err := it.Close(); err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}
