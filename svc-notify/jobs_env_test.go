package notify

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/grpc"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/internal/grpctest"
	"github.com/sightlinehq/sightline/internal/pgtest"
	"github.com/sightlinehq/sightline/svc-notify/mail/mailtest"
	"github.com/sightlinehq/sightline/svc-notify/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// mesh fakes the services notify calls (accounts' recipients, search's
// reports, recordings' sweeps), served over a real gRPC socket.
type mesh struct {
	accountsv1.UnimplementedAccountsInternalServiceServer
	searchv1.UnimplementedSearchInternalServiceServer
	recordingsv1.UnimplementedRecordingsInternalServiceServer

	mu     sync.Mutex
	sites  map[int64]*meshSite
	report func(*searchv1.GetSiteReportRequest) *searchv1.GetSiteReportResponse
	// more is how many RunSweep passes answer more=true before false.
	more        map[recordingsv1.SweepTask]int
	sweeps      map[recordingsv1.SweepTask]int
	reportCalls atomic.Int64

	conn *grpc.ClientConn
}

type meshSite struct {
	name, tz string
	members  map[int64]*accountsv1.Recipient
}

func newMesh(t *testing.T) *mesh {
	m := &mesh{sites: map[int64]*meshSite{}, more: map[recordingsv1.SweepTask]int{}, sweeps: map[recordingsv1.SweepTask]int{}}
	m.conn = grpctest.Conn(t, func(s *grpc.Server) {
		accountsv1.RegisterAccountsInternalServiceServer(s, m)
		searchv1.RegisterSearchInternalServiceServer(s, m)
		recordingsv1.RegisterRecordingsInternalServiceServer(s, m)
	})
	return m
}

func (m *mesh) addSite(id int64, name, tz string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sites[id] = &meshSite{name: name, tz: tz, members: map[int64]*accountsv1.Recipient{}}
}

func (m *mesh) addMember(site, user int64, email string, role accountsv1.Role) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sites[site].members[user] = &accountsv1.Recipient{UserId: user, Email: email, Name: "User " + email, Role: role}
}

func (m *mesh) ListSiteRecipients(_ context.Context, req *accountsv1.ListSiteRecipientsRequest) (*accountsv1.ListSiteRecipientsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	site := m.sites[req.GetSiteId()]
	if site == nil {
		return &accountsv1.ListSiteRecipientsResponse{TimeZone: "UTC"}, nil
	}
	resp := &accountsv1.ListSiteRecipientsResponse{SiteName: site.name, TimeZone: site.tz}
	pick := func(r *accountsv1.Recipient) bool {
		return req.GetMinRole() == accountsv1.Role_ROLE_UNSPECIFIED || r.GetRole() <= req.GetMinRole()
	}
	if len(req.GetUserIds()) > 0 {
		for _, id := range req.GetUserIds() {
			if r := site.members[id]; r != nil && pick(r) {
				resp.Recipients = append(resp.Recipients, r)
			}
		}
		return resp, nil
	}
	for _, r := range site.members {
		if pick(r) {
			resp.Recipients = append(resp.Recipients, r)
		}
	}
	sort.Slice(resp.Recipients, func(i, j int) bool { return resp.Recipients[i].GetUserId() < resp.Recipients[j].GetUserId() })
	return resp, nil
}

func (m *mesh) GetSiteReport(_ context.Context, req *searchv1.GetSiteReportRequest) (*searchv1.GetSiteReportResponse, error) {
	m.reportCalls.Add(1)
	m.mu.Lock()
	f := m.report
	m.mu.Unlock()
	if f == nil {
		return &searchv1.GetSiteReportResponse{}, nil
	}
	return f(req), nil
}

func (m *mesh) RunSweep(_ context.Context, req *recordingsv1.RunSweepRequest) (*recordingsv1.RunSweepResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweeps[req.GetTask()]++
	more := m.more[req.GetTask()] > 0
	if more {
		m.more[req.GetTask()]--
	}
	return &recordingsv1.RunSweepResponse{Sessions: 10, More: more}, nil
}

func (m *mesh) sweepCount(t recordingsv1.SweepTask) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sweeps[t]
}

// jobsEnv is a running notify on a real store, sending through a real
// SMTP server, calling the mesh over gRPC.
type jobsEnv struct {
	t        *testing.T
	svc      *Service
	internal notifyv1.NotifyInternalServiceClient
}

// testNow is the clock of the jobs tests: Monday 30 November 2026,
// 07:30 UTC (digest hour 7 in UTC).
var testNow = time.Date(2026, 11, 30, 7, 30, 0, 0, time.UTC)

func testConfig(t *testing.T, smtp *mailtest.Server, dir string) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("notify", flag.ContinueOnError))
	cfg.DashboardURL = "https://dash.example.test"
	cfg.Webhook.AllowPrivate = true
	cfg.PollInterval = 100 * time.Millisecond
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.Username = smtp.Host, smtp.Port, smtp.Username
	cfg.SMTP.From = "sightline@example.test"
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg.SMTP.PasswordFile = write("smtp-password", []byte(smtp.Password+"\n"))
	cfg.SMTP.CAFile = write("smtp-ca.pem", smtp.CertPEM)
	cfg.SMTP.Timeout = 5 * time.Second
	// Every replica must sign unsubscribe links alike.
	cfg.SecretFile = write("notify.key", []byte("0123456789abcdef0123456789abcdef"))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startJobs runs a notify Service on st; tweak may change the config
// after validation (short disable-after and the like).
func startJobs(t *testing.T, st store.Store, m *mesh, smtp *mailtest.Server, tweak func(*Config)) *jobsEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, smtp, dir)
	if tweak != nil {
		tweak(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() && os.Getenv("NOTIFY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	svc, err := newWithStore(context.Background(), cfg, Deps{
		Logger: log, DataDir: dir,
		AccountsInternal: accountsv1.NewAccountsInternalServiceClient(m.conn),
		Search:           searchv1.NewSearchInternalServiceClient(m.conn),
		Recordings:       recordingsv1.NewRecordingsInternalServiceClient(m.conn),
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	svc.now = func() time.Time { return testNow }
	runService(t, svc, func() error {
		if err := svc.queue.Close(); err != nil {
			t.Errorf("queue close: %v", err)
		}
		svc.hooks.Close()
		return nil
	})
	conn := grpctest.Conn(t, func(s *grpc.Server) { notifyv1.RegisterNotifyInternalServiceServer(s, svc.Internal()) })
	e := &jobsEnv{t: t, svc: svc, internal: notifyv1.NewNotifyInternalServiceClient(conn)}
	e.waitReady()
	return e
}

func (e *jobsEnv) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.svc.Ready(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until no job is waiting to run now (available, running,
// retryable) — snoozed and scheduled jobs are left — for a few polls in a
// row.
func (e *jobsEnv) settle(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	quiet := 0
	for quiet < 5 {
		if time.Now().After(deadline) {
			e.t.Fatalf("jobs still running after %v: %v", timeout, e.busy())
		}
		if len(e.busy()) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *jobsEnv) busy() []string {
	jobs, err := e.svc.queue.Jobs(context.Background(), river.NewJobListParams().
		States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStatePending).First(100))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.Kind+":"+string(j.State))
	}
	return out
}

// jobs lists jobs of a kind in any state.
func (e *jobsEnv) jobs(kind string) []*rivertype.JobRow {
	e.t.Helper()
	jobs, err := e.svc.queue.Jobs(context.Background(), river.NewJobListParams().Kinds(kind).First(10000).
		States(rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded,
			rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled))
	if err != nil {
		e.t.Fatal(err)
	}
	return jobs
}

// insert queues a job as the leader's schedule would.
func (e *jobsEnv) insert(args river.JobArgs) {
	e.t.Helper()
	if _, err := e.svc.queue.Insert(context.Background(), args, scheduleOpts(args)); err != nil {
		e.t.Fatal(err)
	}
}

// byRecipient counts messages per envelope recipient.
func byRecipient(msgs []mailtest.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		for _, r := range m.RcptTo {
			out[r]++
		}
	}
	return out
}
