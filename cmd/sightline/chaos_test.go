package main

// Failures across processes (issue 18, `make chaos`): the six processes of
// startFullMesh, accounts on a PostgreSQL of its own, under steady load — a
// constant rate of tracker batches through ingest's intake (startLoad) and
// dashboard reads through the gateway — and kill -9 of each in turn,
// PostgreSQL's postmaster included, each down for CHAOS_OUTAGE and started
// again on its data directory and addresses, for CHAOS_ROUNDS rounds. The
// defaults are the short version `make test` runs; `make chaos` sets more.
//
// The rule for answers: a batch is answered 204, or 503 (the tracker
// retries it); a dashboard read 200, or 503 with Retry-After. Anything else
// — another 5xx, a 4xx, a 503 without Retry-After on the API — is a
// failure, and so is a request that gets no answer unless the process it
// was sent to (ingest for batches, the gateway for reads) was down then.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/internal/poll"
)

const (
	// chaosDrainWithin bounds, after each restart, the time until the
	// process is ready and until every batch accepted by then is
	// searchable: an outage's backlog is CHAOS_OUTAGE × loadRate batches.
	chaosDrainWithin = 30 * time.Second
	// readEvery is the pause between two rounds of dashboard reads (four
	// requests): with the test's own polls, under the gateway's 20
	// requests/s per user, which would answer 429.
	readEvery = 500 * time.Millisecond
)

// chaosVictims is the kill order of a round; "postgres" is accounts'
// PostgreSQL server.
var chaosVictims = []string{"postgres", "accounts", "search", "recordings", "notify", "ingest", "gateway"}

// chaosConfig reads CHAOS_ROUNDS (default 1) and CHAOS_OUTAGE (a Go
// duration, default 2s): the short version by default.
func chaosConfig(t *testing.T) (int, time.Duration) {
	t.Helper()
	rounds, outage := 1, 2*time.Second
	if v := os.Getenv("CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			t.Fatalf("CHAOS_ROUNDS=%q: want a whole number in [1, 20]", v)
		}
		rounds = n
	}
	if v := os.Getenv("CHAOS_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 500*time.Millisecond || d > 5*time.Minute {
			t.Fatalf("CHAOS_OUTAGE=%q: want a duration in [500ms, 5m]", v)
		}
		outage = d
	}
	return rounds, outage
}

// read is one dashboard request's outcome.
type read struct {
	at         time.Time // when it came back
	path       string
	code       int
	retryAfter bool
	message    string // of an answer other than 200, cut short
	err        error
}

// reads is the dashboard open on the site: every readEvery it asks the
// gateway for the user, the session list, one session and the alert
// rules (notify), and keeps every answer.
type reads struct {
	paths int // how many paths each round reads
	mu    sync.Mutex
	all   []read
	stop  chan struct{}
	done  chan struct{}
}

func startReads(d *dashboard, session string) *reads {
	r := &reads{stop: make(chan struct{}), done: make(chan struct{})}
	site := fmt.Sprintf("/api/v1/sites/%d", d.siteID)
	requests := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/me", nil},
		{"POST", site + "/sessions:search", map[string]any{"pageSize": 1}},
		{"GET", site + "/sessions/" + session, nil},
		{"GET", site + "/alert-rules", nil},
	}
	r.paths = len(requests)
	go func() {
		defer close(r.done)
		for {
			for _, q := range requests {
				code, hdr, body, err := d.do(q.method, q.path, q.body)
				a := read{at: time.Now(), path: q.path, code: code, retryAfter: hdr.Get("Retry-After") != "", err: err}
				if code != http.StatusOK {
					a.message = string(body[:min(len(body), 160)])
				}
				r.mu.Lock()
				r.all = append(r.all, a)
				r.mu.Unlock()
			}
			select {
			case <-r.stop:
				return
			case <-time.After(readEvery):
			}
		}
	}()
	return r
}

// warm waits until every read path has answered 200 once, so the gateway
// holds a last good answer of each before the first kill (without it the
// first round's PostgreSQL kill came before any /me was kept, and /me
// answered 503 for the whole outage).
func (r *reads) warm(t *testing.T) {
	t.Helper()
	poll.Until(t, chaosDrainWithin, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		ok := map[string]bool{}
		for _, a := range r.all {
			if a.code == http.StatusOK {
				ok[a.path] = true
			}
		}
		if len(ok) < r.paths {
			return fmt.Errorf("%d of %d read paths answered 200 so far", len(ok), r.paths)
		}
		return nil
	})
}

func (r *reads) end() {
	close(r.stop)
	<-r.done
}

// outageFigures is one kill: the victim was killed at killed, started
// again at back and ready at ready; every batch accepted by ready was
// searchable at drained. The answers counted are those that came back
// between killed and back.
type outageFigures struct {
	round               int
	victim              string
	killed, back, ready time.Time
	drained             time.Time
	batches, reads      tally
	acceptedByReady     int
	unavailable         map[string]string // read path → its first 503's message
}

// tally counts requests by outcome: ok (204 for batches, 200 for reads),
// 503, and other (another status, or no answer).
type tally struct{ offered, ok, unavailable, other int }

// add counts one request that answered code (err: none) where ok is
// success, and reports whether it was a 503.
func (t *tally) add(code int, err error, ok int) bool {
	t.offered++
	switch {
	case err == nil && code == ok:
		t.ok++
	case err == nil && code == http.StatusServiceUnavailable:
		t.unavailable++
		return true
	default:
		t.other++
	}
	return false
}

func (t *tally) plus(o tally) {
	t.offered += o.offered
	t.ok += o.ok
	t.unavailable += o.unavailable
	t.other += o.other
}

// chaosRun is the mesh under load and what happened to it.
type chaosRun struct {
	t   *testing.T
	m   *mesh
	d   *dashboard
	l   *load
	r   *reads
	out []outageFigures
}

// killAndRestart kills victim for outage, starts it again and waits until
// it is ready and the backlog is searchable, and records the figures.
func (c *chaosRun) killAndRestart(round int, victim string, outage time.Duration) {
	t, m := c.t, c.m
	t.Helper()
	f := outageFigures{round: round, victim: victim, unavailable: map[string]string{}}
	f.killed = time.Now()
	var ready *process // the process whose /readyz says the victim is back
	switch victim {
	case "postgres":
		if err := m.pg.Kill(); err != nil {
			t.Fatal(err)
		}
		ready = m.accounts
	default:
		p, _ := m.module(victim)
		kill(t, *p)
	}
	time.Sleep(outage - time.Since(f.killed)) // the outage is the behaviour under test
	f.back = time.Now()
	switch victim {
	case "postgres":
		ctx, cancel := context.WithTimeout(context.Background(), chaosDrainWithin)
		defer cancel()
		if err := m.pg.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	default:
		ready = m.restartModule(victim)
	}
	poll.Until(t, chaosDrainWithin, func() error {
		if code := readyz(t, ready, "/readyz"); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %v after %s was started again", code, time.Since(f.back).Round(time.Millisecond), victim)
		}
		return nil
	})
	f.ready = time.Now()
	f.acceptedByReady = c.l.count()
	poll.Until(t, chaosDrainWithin, func() error {
		// About 10 asks a second: with the reads, under the gateway's
		// rate per user (poll's own pace would be answered 429).
		time.Sleep(80 * time.Millisecond)
		n, code, err := searchTotal(c.d)
		if n < int64(f.acceptedByReady) {
			return fmt.Errorf("%d of the %d batches accepted by the time %s was ready are searchable (last answer %d, %v)", n, f.acceptedByReady, victim, code, err)
		}
		return nil
	})
	f.drained = time.Now()
	c.requireAlive(victim)

	c.l.mu.Lock()
	for _, a := range c.l.answers {
		if a.at.Before(f.killed) || !a.at.Before(f.back) {
			continue
		}
		f.batches.add(a.code, a.err, http.StatusNoContent)
	}
	c.l.mu.Unlock()
	c.r.mu.Lock()
	for _, a := range c.r.all {
		if a.at.Before(f.killed) || !a.at.Before(f.back) {
			continue
		}
		if _, seen := f.unavailable[a.path]; f.reads.add(a.code, a.err, http.StatusOK) && !seen {
			f.unavailable[a.path] = a.message
		}
	}
	c.r.mu.Unlock()
	t.Logf("round %d, %-10s down %5.1fs: batches %3d offered, %3d 204, %3d 503, %3d other; reads %3d: %3d 200, %3d 503, %3d other; ready %5.2fs after restart, %d accepted batches searchable %5.2fs after restart; 503 on %q",
		round, victim, f.back.Sub(f.killed).Seconds(), f.batches.offered, f.batches.ok, f.batches.unavailable, f.batches.other,
		f.reads.offered, f.reads.ok, f.reads.unavailable, f.reads.other,
		f.ready.Sub(f.back).Seconds(), f.acceptedByReady, f.drained.Sub(f.back).Seconds(), f.unavailable)
	c.out = append(c.out, f)
}

// module is where the mesh keeps name's process, and the arguments it
// starts with.
func (m *mesh) module(name string) (**process, func() []string) {
	switch name {
	case "accounts":
		return &m.accounts, m.accountsArgs
	case "search":
		return &m.search, m.searchArgs
	case "recordings":
		return &m.recordings, m.recordingsArgs
	case "notify":
		return &m.notify, m.notifyArgs
	case "ingest":
		return &m.ingest, m.ingestArgs
	case "gateway":
		return &m.gateway, m.gatewayArgs
	}
	m.t.Fatalf("no module %q in the mesh", name)
	return nil, nil
}

// restartModule starts the killed module again on its data directory and
// addresses (the HTTP one too for ingest and the gateway, which serve it)
// and answers the new process.
func (m *mesh) restartModule(name string) *process {
	m.t.Helper()
	p, argsOf := m.module(name)
	args := argsOf()
	if name == "ingest" || name == "gateway" {
		args = append(args, "--server.http-listen-address", (*p).addrs.HTTP)
	}
	*p = m.restart(name, *p, args...)
	return *p
}

// requireAlive fails the run when a process of the mesh has ended on its
// own (crashed, or exited in a loop of failing starts) after victim's
// restart.
func (c *chaosRun) requireAlive(victim string) {
	c.t.Helper()
	for _, module := range chaosVictims[1:] {
		slot, _ := c.m.module(module)
		p := *slot
		select {
		case err := <-p.done:
			c.t.Fatalf("after %s's restart, %s had ended on its own: %v\n%s", victim, module, err, problems(p.logs.String(), 20))
		default:
		}
	}
}

// logDashboardRecovery logs, per kill, when after the restart the last
// dashboard read other than 200 came back (before the next kill): the
// victim's /readyz says it is back, this says when the processes calling
// it (the gateway's connections) had caught up. Reads come every
// readEvery, which is the resolution.
func (c *chaosRun) logDashboardRecovery() {
	for i, f := range c.out {
		until := time.Now()
		if i+1 < len(c.out) {
			until = c.out[i+1].killed
		}
		last := "none"
		for _, a := range c.r.all {
			if a.at.After(f.back) && a.at.Before(until) && (a.err != nil || a.code != http.StatusOK) {
				last = fmt.Sprintf("%.2fs", a.at.Sub(f.back).Seconds())
			}
		}
		c.t.Logf("round %d, %-10s: last dashboard read other than 200 after the restart: %s", f.round, f.victim, last)
	}
}

// downWindows are the times at which module was down (from its kill to
// its readiness): a request to it may go unanswered only then.
func (c *chaosRun) downWindows(module string) [][2]time.Time {
	var w [][2]time.Time
	for _, f := range c.out {
		if f.victim == module {
			w = append(w, [2]time.Time{f.killed, f.ready})
		}
	}
	return w
}

func within(at time.Time, windows [][2]time.Time) bool {
	for _, w := range windows {
		if !at.Before(w[0]) && !at.After(w[1]) {
			return true
		}
	}
	return false
}

// requireAnswerRule checks every batch's and read's answer against the
// rule in the file comment.
func (c *chaosRun) requireAnswerRule() {
	t := c.t
	t.Helper()
	var bad []string
	ingestDown, gatewayDown := c.downWindows("ingest"), c.downWindows("gateway")
	for _, a := range c.l.answers {
		switch {
		case a.err != nil && !within(a.at, ingestDown):
			bad = append(bad, fmt.Sprintf("batch at %s: no answer while ingest was up: %v", a.at.Format(time.StampMilli), a.err))
		case a.err == nil && a.code != http.StatusNoContent && a.code != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("batch at %s: %d, want 204 or 503", a.at.Format(time.StampMilli), a.code))
		}
	}
	for _, a := range c.r.all {
		switch {
		case a.err != nil && !within(a.at, gatewayDown):
			bad = append(bad, fmt.Sprintf("read %s at %s: no answer while the gateway was up: %v", a.path, a.at.Format(time.StampMilli), a.err))
		case a.err == nil && a.code == http.StatusServiceUnavailable && !a.retryAfter:
			bad = append(bad, fmt.Sprintf("read %s at %s: 503 without Retry-After", a.path, a.at.Format(time.StampMilli)))
		case a.err == nil && a.code != http.StatusOK && a.code != http.StatusServiceUnavailable:
			bad = append(bad, fmt.Sprintf("read %s at %s: %d, want 200 or 503 with Retry-After", a.path, a.at.Format(time.StampMilli), a.code))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d answers break the rule; the first: %q", len(bad), bad[:min(len(bad), 20)])
	}
}

// requireStoredAndSearchable checks, with the load stopped, that every
// batch answered 204 is stored once and replays its events, and that
// search lists exactly the stored sessions. Besides the accepted ones, a
// session may be stored only if its request got no answer (cut by a
// kill of ingest after the spool took it).
func (c *chaosRun) requireStoredAndSearchable() {
	t, m, d := c.t, c.m, c.d
	t.Helper()
	cut := map[string]bool{}
	for _, s := range c.l.failed {
		cut[s] = true
	}
	var stored map[string]int32
	poll.Until(t, chaosDrainWithin, func() error {
		stored = storedChunks(t, m, d)
		for _, s := range c.l.accepted {
			if stored[s] == 0 {
				return fmt.Errorf("accepted session %s is not stored (%d of %d stored)", s, len(stored), len(c.l.accepted))
			}
		}
		return nil
	})
	for _, s := range c.l.accepted {
		if stored[s] != 1 {
			t.Errorf("accepted session %s: %d chunks stored, want 1", s, stored[s])
		}
		delete(cut, s)
	}
	accepted := map[string]bool{}
	for _, s := range c.l.accepted {
		accepted[s] = true
	}
	for s, n := range stored {
		if !accepted[s] && (!cut[s] || n != 1) {
			t.Errorf("recordings holds session %s (%d chunks), which ingest neither accepted nor was cut while receiving", s, n)
		}
	}

	poll.Until(t, chaosDrainWithin, func() error {
		n, code, err := searchTotal(d)
		if code != http.StatusOK || n != int64(len(stored)) {
			return fmt.Errorf("search counts %d sessions, %d are stored (last answer %d, %v)", n, len(stored), code, err)
		}
		return nil
	})
	listed := searchedSessions(t, d)
	for s := range stored {
		if !listed[s] {
			t.Errorf("stored session %s is not in the session list", s)
		}
	}
	if len(listed) != len(stored) {
		t.Errorf("the session list holds %d sessions, %d are stored", len(listed), len(stored))
	}

	// Replay: every accepted session's recording holds the batch's page.
	conn, err := grpc.NewClient(m.recordings.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := recordingsv1.NewRecordingsServiceClient(conn)
	var g errgroup.Group
	g.SetLimit(4)
	for _, s := range c.l.accepted {
		g.Go(func() error {
			events, err := streamOnce(rec, d, s)
			if err != nil {
				return fmt.Errorf("replay of accepted session %s: %w", s, err)
			}
			if !bytes.Contains(events, []byte(`"href":"`+loadOrigin+`/"`)) {
				return fmt.Errorf("replay of accepted session %s lacks its page view: %.200s", s, events)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Error(err)
	}
}

// searchedSessions pages through the dashboard's session list.
func searchedSessions(t *testing.T, d *dashboard) map[string]bool {
	t.Helper()
	listed := map[string]bool{}
	for token := ""; ; {
		var page struct {
			Sessions []struct {
				SessionID string `json:"sessionId"`
			}
			NextPageToken string
		}
		out := d.call("POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID), map[string]any{"pageSize": 200, "pageToken": token})
		b, _ := json.Marshal(out)
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Sessions {
			if listed[s.SessionID] {
				t.Errorf("session %s listed twice", s.SessionID)
			}
			listed[s.SessionID] = true
		}
		if token = page.NextPageToken; token == "" {
			return listed
		}
	}
}

// TestChaos is issue 18's failures across processes; see the file
// comment. It prints the figures of every kill and the totals.
func TestChaos(t *testing.T) {
	rounds, outage := chaosConfig(t)
	began := time.Now()
	c := &chaosRun{t: t, m: startFullMesh(t, pgtest.Private(t))}
	c.d = newDashboard(t, c.m.gateway)
	c.l = startLoad(c.m.ingest, c.d.key, "chaos")
	waitFlowing(t, c.d, c.l)
	c.l.mu.Lock()
	known := c.l.accepted[0]
	c.l.mu.Unlock()
	c.r = startReads(c.d, known)
	c.r.warm(t)
	t.Logf("chaos: %d round(s) of %d kills, each down %v, under %d batches/s and 4 dashboard reads every %v",
		rounds, len(chaosVictims), outage, loadRate, readEvery)

	for round := 1; round <= rounds; round++ {
		for _, victim := range chaosVictims {
			c.killAndRestart(round, victim, outage)
		}
	}
	c.l.end()
	c.r.end()

	c.requireAnswerRule()
	c.logDashboardRecovery()
	c.requireStoredAndSearchable()
	c.requireAlive("the last kill")

	var sum outageFigures
	var worstReady, worstDrain time.Duration
	for _, f := range c.out {
		sum.batches.plus(f.batches)
		sum.reads.plus(f.reads)
		worstReady = max(worstReady, f.ready.Sub(f.back))
		worstDrain = max(worstDrain, f.drained.Sub(f.back))
	}
	refused := 0
	for _, err := range c.l.errs {
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused++
		}
	}
	t.Logf("totals: %d kills in %v; during the outages batches %d offered, %d 204, %d 503, %d other; reads %d: %d 200, %d 503, %d other; "+
		"slowest ready %.2fs and drain %.2fs after a restart; whole run: %d batches offered, %d accepted (all stored once, replayed and searchable), "+
		"%d refused while ingest was down, %d cut, answers by status other than 204 %v, %d reads",
		len(c.out), time.Since(began).Round(time.Second), sum.batches.offered, sum.batches.ok, sum.batches.unavailable, sum.batches.other,
		sum.reads.offered, sum.reads.ok, sum.reads.unavailable, sum.reads.other, worstReady.Seconds(), worstDrain.Seconds(),
		len(c.l.answers), len(c.l.accepted), refused, len(c.l.errs)-refused, c.l.other, len(c.r.all))
}
