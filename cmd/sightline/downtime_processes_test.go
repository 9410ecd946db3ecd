package main

// The process-kill rows of the downtime matrix (issue 20, README
// "Operations"): every module runs as its own process, wired by --remote.*
// flags as in TestManyProcesses, under steady ingest load. One process is
// killed with SIGKILL, stays down for outage, and is started again on the
// same data directory and gRPC address; nothing else is restarted.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
)

const (
	// outage is how long the killed process stays down: issue 20's 60 s.
	outage = 60 * time.Second
	// loadRate is how many batches a second the load posts, each a new
	// session.
	loadRate = 20
	// drainWithin is how soon after the killed process is back every
	// accepted session must be searchable.
	drainWithin = 5 * time.Second
	// loadOrigin is the dashboard's site (newDashboard).
	loadOrigin = "https://shop.example.com"
)

// mesh is every module but notify (which nothing here calls) as its own
// process.
type mesh struct {
	t                                             *testing.T
	accounts, search, recordings, ingest, gateway *process
	dirs                                          map[string]string
}

func startMesh(t *testing.T) *mesh {
	t.Helper()
	m := &mesh{t: t, dirs: map[string]string{}}
	m.accounts = m.start("accounts", "--accounts.default-plan.sessions-per-day=1000000")
	m.search = m.start("search", m.searchArgs()...)
	m.recordings = m.start("recordings", m.recordingsArgs()...)
	m.ingest = m.start("ingest", "--remote.accounts", m.accounts.addrs.GRPC, "--remote.recordings", m.recordings.addrs.GRPC, "--ingest.rate-per-ip=0")
	m.gateway = m.start("gateway", "--remote.accounts", m.accounts.addrs.GRPC, "--remote.recordings", m.recordings.addrs.GRPC,
		"--remote.search", m.search.addrs.GRPC, "--remote.ingest", m.ingest.addrs.GRPC)
	return m
}

func (m *mesh) searchArgs() []string { return []string{"--remote.accounts", m.accounts.addrs.GRPC} }

func (m *mesh) recordingsArgs() []string {
	return []string{"--remote.accounts", m.accounts.addrs.GRPC, "--remote.search", m.search.addrs.GRPC}
}

// start runs module on its own data directory (kept for a restart).
func (m *mesh) start(module string, args ...string) *process {
	m.t.Helper()
	dir := m.t.TempDir()
	m.dirs[module] = dir
	return startServe(m.t, nil, append([]string{"--target=" + module, "--data-dir", dir}, args...)...)
}

// kill sends SIGKILL to p and waits for it to be gone.
func kill(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// restart starts module again on the data directory and gRPC address of
// old, which was killed.
func (m *mesh) restart(module string, old *process, args ...string) *process {
	m.t.Helper()
	return startServe(m.t, nil, append([]string{"--target=" + module, "--data-dir", m.dirs[module],
		"--server.grpc-listen-address", old.addrs.GRPC}, args...)...)
}

// load posts loadRate valid batches a second to ingest, each of a new
// session, and keeps every answer.
type load struct {
	mu       sync.Mutex
	accepted []string
	other    map[int]int // answers other than 204, by status
	errs     []error
	slowest  time.Duration
	stop     chan struct{}
	done     chan struct{}
}

func startLoad(ingest *process, siteKey, prefix string) *load {
	l := &load{other: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			session := fmt.Sprintf("s_%s_%06d", prefix, i)
			began := time.Now()
			code, err := sendBatch(ingest, siteKey, loadOrigin, session)
			took := time.Since(began)
			l.mu.Lock()
			switch {
			case err != nil:
				l.errs = append(l.errs, err)
			case code == http.StatusNoContent:
				l.accepted = append(l.accepted, session)
			default:
				l.other[code]++
			}
			l.slowest = max(l.slowest, took)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// halt stops the load and checks that ingest answered 204 to every batch.
func (l *load) halt(t *testing.T) []string {
	t.Helper()
	close(l.stop)
	<-l.done
	if len(l.other) > 0 || len(l.errs) > 0 {
		t.Errorf("ingest did not accept every batch: %d accepted, other answers %v, errors %v", len(l.accepted), l.other, l.errs)
	}
	t.Logf("load: %d batches accepted (204) at %d/s, slowest answer %v", len(l.accepted), loadRate, l.slowest.Round(time.Millisecond))
	return l.accepted
}

// searchTotal is d.total answering the status instead of failing.
func searchTotal(d *dashboard) (int64, int, error) {
	code, _, body, err := d.do("POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID), map[string]any{"pageSize": 1})
	if err != nil || code != http.StatusOK {
		return 0, code, err
	}
	var out struct{ Total string }
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, code, err
	}
	n, err := strconv.ParseInt(out.Total, 10, 64)
	return n, code, err
}

// waitSearchable waits until search counts want sessions and answers how
// long that took from since.
func waitSearchable(t *testing.T, d *dashboard, want int, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	for {
		n, code, err := searchTotal(d)
		if code == http.StatusOK && n == int64(want) {
			return time.Since(since)
		}
		if n > int64(want) {
			t.Fatalf("search counts %d sessions; %d were accepted: duplicates", n, want)
		}
		if time.Since(since) > within {
			t.Fatalf("%v after the process returned search counts %d of %d accepted sessions (last answer %d, %v)", within, n, want, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFlowing waits until what the load had posted is searchable (more
// may be by then): delivery works before the kill.
func waitFlowing(t *testing.T, d *dashboard, l *load) {
	t.Helper()
	want, start := int64(l.count()), time.Now()
	for {
		if n, _, _ := searchTotal(d); n >= want && want > 0 {
			return
		}
		if time.Since(start) > drainWithin {
			t.Fatalf("%d sessions posted before the kill are not searchable within %v", want, drainWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireUnavailable checks that the dashboard answers 503 with a
// Retry-After on method path, naming part without internals (addresses),
// and returns the body.
func requireUnavailable(t *testing.T, d *dashboard, method, path, part string) string {
	t.Helper()
	code, hdr, body, err := d.do(method, path, map[string]any{"pageSize": 1})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("%s %s = %d (Retry-After %q) %s; want 503 with Retry-After", method, path, code, hdr.Get("Retry-After"), body)
	}
	if !strings.Contains(string(body), part) || strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("%s %s: 503 %s; want a message naming %q without addresses", method, path, body, part)
	}
	return strings.TrimSpace(string(body))
}

var dependencyUp = regexp.MustCompile(`(?m)^sightline_dependency_up\{component="([a-z]+)",dependency="([a-z]+)"[^}]*\} ([01])$`)

// dependencyGauge reads sightline.dependency.up{component,dependency} from
// p's /metrics.
func dependencyGauge(t *testing.T, p *process, component, dependency string) string {
	t.Helper()
	_, _, body := httpGet(t, "http://"+p.addrs.Admin+"/metrics")
	for _, m := range dependencyUp.FindAllStringSubmatch(string(body), -1) {
		if m[1] == component && m[2] == dependency {
			return m[3]
		}
	}
	t.Fatalf("no sightline_dependency_up{component=%q,dependency=%q} on %s/metrics", component, dependency, p.addrs.Admin)
	return ""
}

// countLines counts p's log lines at level whose message is msg.
func countLines(p *process, level, msg string) int {
	return strings.Count(p.logs.String(), `"level":"`+level+`","msg":"`+msg+`"`)
}

// loggedAt is the time of p's last log line whose message is msg.
func loggedAt(p *process, msg string) (at time.Time) {
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var rec struct {
			Time time.Time
			Msg  string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			at = rec.Time
		}
	}
	return at
}

// during runs check now and every 5 s until outage has passed since from.
func during(from time.Time, check func()) {
	for {
		check()
		left := outage - time.Since(from)
		if left <= 0 {
			return
		}
		time.Sleep(min(5*time.Second, left))
	}
}

// TestKillSearchProcess: search is killed for outage under ingest load.
// Ingest answers 204 throughout; the dashboard's session list answers 503
// with Retry-After; the recordings outbox logs one warning and its gauge
// reads 0. Search is started again on its data directory and address:
// within drainWithin every accepted session is searchable, once.
func TestKillSearchProcess(t *testing.T) {
	m := startMesh(t)
	d := newDashboard(t, m.gateway)
	l := startLoad(m.ingest, d.key, "killsearch")
	time.Sleep(time.Second)
	waitFlowing(t, d, l)

	kill(t, m.search)
	killed := time.Now()
	var answer string
	during(killed, func() {
		answer = requireUnavailable(t, d, "POST", fmt.Sprintf("/api/v1/sites/%d/sessions:search", d.siteID), "search")
	})
	if v := dependencyGauge(t, m.recordings, "outbox", "search"); v != "0" {
		t.Errorf("recordings' outbox gauge for search during the outage = %s, want 0", v)
	}
	t.Logf("the session list while search was down: 503 %s", answer)

	m.search = m.restart("search", m.search, m.searchArgs()...)
	back := time.Now()
	accepted := l.halt(t)
	took := waitSearchable(t, d, len(accepted), back, drainWithin)
	t.Logf("search down %v; the outbox delivered again %v after it was back; every one of %d accepted sessions searchable %v after it was back",
		back.Sub(killed).Round(time.Millisecond), loggedAt(m.recordings, "outbox: search answers again").Sub(back).Round(time.Millisecond),
		len(accepted), took.Round(time.Millisecond))
	if v := dependencyGauge(t, m.recordings, "outbox", "search"); v != "1" {
		t.Errorf("recordings' outbox gauge for search after the outage = %s, want 1", v)
	}
	if w, i := countLines(m.recordings, "WARN", "outbox: search is failing; retrying with backoff until it answers"),
		countLines(m.recordings, "INFO", "outbox: search answers again"); w != 1 || i != 1 {
		t.Errorf("recordings logged %d warnings and %d recoveries for the outbox, want 1 and 1:\n%s", w, i, problems(m.recordings.logs.String(), 20))
	}
}

// TestKillRecordingsProcess: recordings is killed for outage under ingest
// load. Ingest answers 204 throughout (the spool holds the batches) and its
// forwarder logs one warning and its gauge reads 0; the dashboard's session
// and replay endpoints answer 503 with Retry-After while the session list
// (search) keeps answering. Recordings is started again on its data
// directory and address: within drainWithin every accepted batch is
// searchable; each is stored once, and nothing is dead-lettered.
func TestKillRecordingsProcess(t *testing.T) {
	m := startMesh(t)
	d := newDashboard(t, m.gateway)
	l := startLoad(m.ingest, d.key, "killrecordings")
	time.Sleep(time.Second)
	waitFlowing(t, d, l)
	l.mu.Lock()
	known := l.accepted[0]
	l.mu.Unlock()

	kill(t, m.recordings)
	killed := time.Now()
	var answer string
	during(killed, func() {
		session := fmt.Sprintf("/api/v1/sites/%d/sessions/%s", d.siteID, known)
		answer = requireUnavailable(t, d, "GET", session, "recordings")
		requireUnavailable(t, d, "GET", session+"/recording", "recordings")
		if _, code, err := searchTotal(d); code != http.StatusOK {
			t.Fatalf("the session list (search) while recordings is down = %d, %v; want 200", code, err)
		}
	})
	if v := dependencyGauge(t, m.ingest, "forwarder", "recordings"); v != "0" {
		t.Errorf("ingest's forwarder gauge for recordings during the outage = %s, want 0", v)
	}
	t.Logf("a session while recordings was down: 503 %s", answer)

	m.recordings = m.restart("recordings", m.recordings, m.recordingsArgs()...)
	back := time.Now()
	accepted := l.halt(t)
	took := waitSearchable(t, d, len(accepted), back, drainWithin)
	t.Logf("recordings down %v; the forwarder delivered again %v after it was back; every one of %d accepted batches searchable %v after it was back",
		back.Sub(killed).Round(time.Millisecond), loggedAt(m.ingest, "forwarder: recordings answers again").Sub(back).Round(time.Millisecond),
		len(accepted), took.Round(time.Millisecond))

	// Stored once: each accepted session, one chunk each, read from
	// recordings with the site's API key.
	conn, err := grpc.NewClient(m.recordings.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := recordingsv1.NewRecordingsServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+d.apiKey)
	stored := map[string]int32{}
	for token := ""; ; {
		page, err := rec.ListSessionSummaries(ctx, &recordingsv1.ListSessionSummariesRequest{SiteId: d.siteID, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.GetSessions() {
			stored[s.GetSessionId()] += s.GetChunkCount()
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	for _, s := range accepted {
		if stored[s] != 1 {
			t.Errorf("accepted session %s: %d chunks stored, want 1", s, stored[s])
		}
	}
	if len(stored) != len(accepted) {
		t.Errorf("recordings holds %d sessions, %d were accepted", len(stored), len(accepted))
	}

	if v := dependencyGauge(t, m.ingest, "forwarder", "recordings"); v != "1" {
		t.Errorf("ingest's forwarder gauge for recordings after the outage = %s, want 1", v)
	}
	if w, i := countLines(m.ingest, "WARN", "forwarder: recordings is failing; retrying with backoff until it answers"),
		countLines(m.ingest, "INFO", "forwarder: recordings answers again"); w != 1 || i != 1 {
		t.Errorf("ingest logged %d warnings and %d recoveries for the forwarder, want 1 and 1:\n%s", w, i, problems(m.ingest.logs.String(), 20))
	}
	_, _, metrics := httpGet(t, "http://"+m.ingest.addrs.Admin+"/metrics")
	if dl := regexp.MustCompile(`(?m)^ingest_spool_dead_letter_records\{[^}]*\} (\d+)$`).FindStringSubmatch(string(metrics)); dl == nil || dl[1] != "0" {
		t.Errorf("dead letters after the outage: %v, want 0", dl)
	}
}
