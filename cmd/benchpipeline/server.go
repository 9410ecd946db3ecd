package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"

	"github.com/sightlinehq/sightline/internal/dashclient"
	"github.com/sightlinehq/sightline/internal/dirsize"
	"github.com/sightlinehq/sightline/internal/loadgen"
)

// server is one running `sightline serve`, all in one, on a fresh data
// directory, with a signed-up user and its sites.
type server struct {
	cmd     *exec.Cmd
	dir     string
	http    string // public listener, host:port
	admin   string // /metrics, /debug/pprof
	proc    procfs.Proc
	dash    *dashclient.Client // the signed-up user
	sites   []loadgen.Site
	siteIDs []string
	logs    *os.File
	done    chan error
}

// startServer runs binary serve with the limits a load from one address
// would hit turned off: the per-IP and per-site rates (one client address
// drives the whole load) and the plan's daily sessions. Everything else is
// as configured by default, but for extra (more flags).
func startServer(ctx context.Context, binary string, sites int, extra []string) (*server, error) {
	dir, err := os.MkdirTemp("", "benchpipeline-")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	logs, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	args := []string{"serve",
		"--data-dir", filepath.Join(dir, "data"),
		"--server.http-listen-address", "127.0.0.1:0",
		"--server.grpc-listen-address", "127.0.0.1:0",
		"--admin.listen-address", "127.0.0.1:0",
		"--ingest.rate-per-ip", "0",
		"--ingest.rate-per-site", "0",
		"--accounts.default-plan.sessions-per-day", "1000000000",
		"--accounts.default-plan.max-sites", strconv.Itoa(sites),
	}
	cmd := exec.CommandContext(ctx, binary, append(args, extra...)...)
	// The server ends with the bench, however the bench ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	s := &server{cmd: cmd, dir: dir, logs: logs, done: make(chan error, 1)}
	started := make(chan struct{ HTTP, Admin string }, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			_, _ = logs.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, HTTP, Admin string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "sightline started" {
				started <- struct{ HTTP, Admin string }{line.HTTP, line.Admin}
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-started:
		s.http, s.admin = a.HTTP, a.Admin
	case err := <-s.done:
		return nil, fmt.Errorf("sightline exited before starting (%v); its log: %s", err, logs.Name())
	case <-time.After(time.Minute):
		s.stop()
		return nil, fmt.Errorf("sightline did not start within a minute; its log: %s", logs.Name())
	}
	if s.proc, err = procfs.NewProc(cmd.Process.Pid); err != nil {
		s.stop()
		return nil, fmt.Errorf("procfs: %w", err)
	}
	if err := s.signUp(sites); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop ends the server and removes its data directory; a server that
// does not exit cleanly on SIGINT within 30 s is killed, and said so.
func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		var err error
		select {
		case err = <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			err = fmt.Errorf("no exit 30 s after SIGINT: killed (%v)", <-s.done)
		}
		if err != nil {
			log.Printf("sightline serve: %v; its log: %s", err, s.logs.Name())
			s.logs.Close()
			return // the data directory is kept with the log
		}
	}
	s.logs.Close()
	_ = os.RemoveAll(s.dir)
}

// signUp creates the user, its organisation and n sites on
// shop<i>.example.com, as a new user does in the dashboard.
func (s *server) signUp(n int) error {
	s.dash = dashclient.New("http://" + s.http)
	var su struct{ Organization struct{ ID string } }
	if err := s.dash.Must("POST", "/api/v1/auth/signup", map[string]any{
		"email": "bench@example.com", "password": "correct horse battery staple", "organizationName": "Bench",
	}, &su); err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	for i := range n {
		domain := fmt.Sprintf("shop%d.example.com", i+1)
		var out struct{ Site struct{ ID, SiteKey string } }
		if err := s.dash.Must("POST", "/api/v1/organizations/"+su.Organization.ID+"/sites",
			map[string]any{"name": domain, "domains": []string{domain}}, &out); err != nil {
			return fmt.Errorf("create site: %w", err)
		}
		s.sites = append(s.sites, loadgen.Site{Key: out.Site.SiteKey, Origin: "https://" + domain})
		s.siteIDs = append(s.siteIDs, out.Site.ID)
	}
	return nil
}

// searchable is the count of sessions search holds for site i.
func (s *server) searchable(i int) (int64, error) {
	var out struct{ Total string }
	if err := s.dash.Must("POST", "/api/v1/sites/"+s.siteIDs[i]+"/sessions:search", map[string]any{"pageSize": 1}, &out); err != nil {
		return 0, err
	}
	return strconv.ParseInt(out.Total, 10, 64)
}

// metrics is what the bench reads from the server's /metrics.
type metrics struct {
	spoolRecords, spoolBytes float64 // undelivered, batches spool
	spoolAge                 float64 // s, oldest undelivered batch
	accepted                 float64 // ingest_batches_total{code="204"}
	stored                   float64 // recordings_chunks_stored_total
	goroutines               float64
	// The recordings store's Pebble figures (pebblemetrics).
	tables, blobFiles, stalled float64 // live tables and blob files; s stalled
	pebbleIn, pebbleWrote      float64 // WAL bytes in; bytes flushed and compacted
	// The batches spool's group commits (one write and fdatasync each),
	// the records they wrote and the seconds they took.
	commits, committed, commitSecs float64
	// commitBuckets is their duration histogram: cumulative counts by
	// upper bound (s), ascending.
	commitBuckets []bucket
}

// bucket is one bucket of a Prometheus histogram.
type bucket struct {
	le    float64 // upper bound
	count float64 // cumulative
}

// commitQuantile is the upper bound of the bucket holding the q quantile
// of the batches spool's commit times from m0 to m, and whether it is past
// the last finite bound (then that bound); 0 with no commit. A commit
// stalled behind other writes shows here, not in the mean.
func (m metrics) commitQuantile(m0 metrics, q float64) (time.Duration, bool) {
	total := m.commits - m0.commits
	if total <= 0 || len(m0.commitBuckets) != 0 && len(m0.commitBuckets) != len(m.commitBuckets) {
		return 0, false
	}
	var last float64
	for i, b := range m.commitBuckets {
		n := b.count
		if len(m0.commitBuckets) > 0 {
			n -= m0.commitBuckets[i].count
		}
		if math.IsInf(b.le, 1) {
			break
		}
		last = b.le
		if n >= q*total {
			return time.Duration(b.le * float64(time.Second)), false
		}
	}
	return time.Duration(last * float64(time.Second)), true
}

// perCommit is the records per group commit of the batches spool from m0
// to m (0 with no commit).
func (m metrics) perCommit(m0 metrics) float64 {
	if m.commits <= m0.commits {
		return 0
	}
	return (m.committed - m0.committed) / (m.commits - m0.commits)
}

// commitTime is the mean time of the batches spool's group commits
// (write and fdatasync) from m0 to m.
func (m metrics) commitTime(m0 metrics) time.Duration {
	if m.commits <= m0.commits {
		return 0
	}
	return time.Duration((m.commitSecs - m0.commitSecs) / (m.commits - m0.commits) * float64(time.Second))
}

// writeAmp is the recordings store's bytes flushed and compacted per byte
// written to its WAL, from m0 to m.
func (m metrics) writeAmp(m0 metrics) float64 {
	return (m.pebbleWrote - m0.pebbleWrote) / max(m.pebbleIn-m0.pebbleIn, 1)
}

func (s *server) metrics() (metrics, error) {
	var m metrics
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	m.spoolRecords = sum(fams["ingest_spool_records"], "spool", "batches")
	m.spoolBytes = sum(fams["ingest_spool_bytes"], "spool", "batches")
	m.spoolAge = sum(fams["ingest_spool_age_seconds"], "spool", "batches")
	m.accepted = sum(fams["ingest_batches_total"], "code", "204")
	m.stored = sum(fams["recordings_chunks_stored_total"], "", "")
	m.goroutines = sum(fams["go_goroutines"], "", "")
	// The batches spool's histograms: every series but the traffic
	// spool's (a build before b273ada left the batches spool's unlabelled).
	batches := func(name string) []*dto.Histogram {
		var hs []*dto.Histogram
		for _, h := range fams[name].GetMetric() {
			traffic := slices.ContainsFunc(h.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "spool" && l.GetValue() == "traffic" })
			if !traffic && h.Histogram != nil {
				hs = append(hs, h.GetHistogram())
			}
		}
		return hs
	}
	for _, h := range batches("ingest_spool_commit_records") {
		m.commits += float64(h.GetSampleCount())
		m.committed += h.GetSampleSum()
	}
	for _, h := range batches("ingest_spool_commit_duration_seconds") {
		m.commitSecs += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			m.commitBuckets = append(m.commitBuckets, bucket{le: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
		}
		m.commitBuckets = append(m.commitBuckets, bucket{le: math.Inf(1), count: float64(h.GetSampleCount())})
	}
	rec := func(name string) float64 { return sum(fams[name], "store", "recordings") }
	m.tables = rec("pebble_tables")
	m.blobFiles = rec("pebble_blob_files")
	m.stalled = rec("pebble_write_stall_duration_seconds_total")
	m.pebbleIn = rec("pebble_wal_bytes_in_total")
	m.pebbleWrote = rec("pebble_flush_written_bytes_total") + rec("pebble_compaction_written_bytes_total")
	return m, nil
}

// sum adds the values of f's series whose label name has value (all of
// them when name is "").
func sum(f *dto.MetricFamily, name, value string) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		match := name == ""
		for _, l := range m.GetLabel() {
			match = match || (l.GetName() == name && l.GetValue() == value)
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

// usage is the server process's CPU time, resident memory and open files.
type usage struct {
	cpu  time.Duration
	rss  int64
	fds  int
	disk int64 // data directory
}

func (s *server) usage() (usage, error) {
	st, err := s.proc.Stat()
	if err != nil {
		return usage{}, fmt.Errorf("/proc stat: %w", err)
	}
	fds, err := s.proc.FileDescriptorsLen()
	if err != nil {
		return usage{}, fmt.Errorf("/proc fds: %w", err)
	}
	u := usage{cpu: time.Duration(st.CPUTime() * float64(time.Second)), rss: int64(st.ResidentMemory()), fds: fds}
	// Files come and go under a running store (compactions, spool
	// segments): retry a walk that met one vanishing.
	for range 10 {
		if u.disk, err = dirsize.Of(filepath.Join(s.dir, "data")); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return u, err
	}
	return u, nil
}

// profileUnder writes a CPU profile of d into path while load runs (for a
// little longer, so the profile holds only loaded seconds).
func (s *server) profileUnder(d time.Duration, path string, load func(time.Duration) error) error {
	done := make(chan error, 1)
	go func() { done <- load(d + 4*time.Second) }()
	time.Sleep(2 * time.Second)
	perr := s.profile(d, path)
	if err := <-done; err != nil {
		return err
	}
	return perr
}

// profile fetches a CPU profile of d from the server's pprof handler.
func (s *server) profile(d time.Duration, path string) error {
	c := &http.Client{Timeout: d + time.Minute}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.admin, int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("pprof: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("pprof: %w", err)
	}
	return f.Close()
}
