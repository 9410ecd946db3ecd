package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sightlinehq/sightline/internal/loadgen"
)

// step is one rate held for a step's duration.
type step struct {
	rate     float64
	res      *loadgen.Result
	backlog  []float64     // spool records, sampled every second
	settle   time.Duration // until accepted = stored = searchable
	settled  bool
	cpu      time.Duration // server's, from the step's start to settled
	rss      int64         // at the end of the load
	disk     int64         // data directory growth, step start to settled
	accepted int
	// perCommit is the batches spool's records per group commit (one
	// fdatasync), step start to settled.
	perCommit float64
	why       string // why the step is not sustained ("" when it is)
}

// ledger is what the server has accepted since it started: it must all be
// stored and searchable.
type ledger struct {
	batches  float64
	sessions []map[string]bool // by site
}

// flat is the rule a series must pass: the mean of its last third is at
// most 1.25× the mean of its middle third, or within slack of it.
func flat(xs []float64, slack float64) bool {
	if len(xs) < 3 {
		return true
	}
	third := len(xs) / 3
	mid, last := mean(xs[third:2*third]), mean(xs[len(xs)-third:])
	return last <= max(mid*1.25, mid+slack)
}

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(max(len(xs), 1))
}

// settled waits until the spool is empty, recordings stored every
// accepted batch and search counts every accepted session, and answers
// how long that took; false when within passed first.
func (l *ledger) settled(ctx context.Context, s *server, within time.Duration) (time.Duration, bool, string) {
	start := time.Now()
	var last string
	for time.Since(start) < within {
		m, err := s.metrics()
		switch {
		case err != nil:
			last = err.Error()
		case m.spoolRecords > 0:
			last = fmt.Sprintf("%.0f batches still in the spool", m.spoolRecords)
		case m.stored < l.batches:
			last = fmt.Sprintf("recordings stored %.0f of %.0f accepted batches", m.stored, l.batches)
		default:
			last = ""
			for i, sessions := range l.sessions {
				n, err := s.searchable(i)
				if err != nil || n != int64(len(sessions)) {
					last = fmt.Sprintf("site %d: search counts %d of %d accepted sessions (%v)", i+1, n, len(sessions), err)
					break
				}
			}
			if last == "" {
				return time.Since(start), true, ""
			}
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false, ctx.Err().Error()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return time.Since(start), false, last
}

func (l *ledger) add(r *loadgen.Result) {
	l.batches += float64(r.Status[http.StatusNoContent])
	for session, site := range r.Accepted {
		l.sessions[site][session] = true
	}
}

// runStep holds rate for d, sampling the backlog every second, then waits
// for what was accepted to be stored and searchable.
func runStep(ctx context.Context, s *server, dr *loadgen.Driver, l *ledger, rate float64, d time.Duration) (*step, error) {
	st := &step{rate: rate}
	u0, err := s.usage()
	if err != nil {
		return nil, err
	}
	m0, err := s.metrics()
	if err != nil {
		return nil, err
	}
	type ran struct {
		res *loadgen.Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := dr.Run(ctx, rate, d)
		done <- ran{res, err}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for st.res == nil {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err
			}
			st.res = r.res
		case <-tick.C:
			if m, err := s.metrics(); err == nil {
				st.backlog = append(st.backlog, m.spoolRecords)
			}
		}
	}
	u1, err := s.usage()
	if err != nil {
		return nil, err
	}
	st.rss = u1.rss
	l.add(st.res)
	st.accepted = st.res.Status[http.StatusNoContent]
	var why string
	st.settle, st.settled, why = l.settled(ctx, s, max(2*d, 30*time.Second))
	u2, err := s.usage()
	if err != nil {
		return nil, err
	}
	st.cpu, st.disk = u2.cpu-u0.cpu, u2.disk-u0.disk
	m2, err := s.metrics()
	if err != nil {
		return nil, err
	}
	st.perCommit = m2.perCommit(m0)
	r := st.res
	switch {
	case r.Errors > 0:
		st.why = fmt.Sprintf("%d transport errors (%v)", r.Errors, r.FirstErr)
	case r.Saturated > 0:
		st.why = fmt.Sprintf("%d sends found %d requests waiting (the driver's bound)", r.Saturated, dr.MaxInFlight)
	case st.accepted != r.Offered:
		st.why = fmt.Sprintf("answers other than 204: %v", r.Status)
	case !flat(st.backlog, 200):
		st.why = fmt.Sprintf("backlog not flat (records, per second: %v)", st.backlog)
	case !st.settled:
		st.why = "not stored and searchable within " + st.settle.Round(time.Second).String() + ": " + why
	}
	return st, nil
}

func stepHeader() {
	fmt.Printf("%8s %9s %9s %8s %9s %9s %9s %9s %8s %10s %9s %8s %12s %9s  %s\n",
		"rate/s", "answered", "204/s", "non-204", "p50", "p99", "backlog", "settle", "CPU/b", "CPUs", "RSS", "disk/b", "sent/b", "b/fsync", "verdict")
}

func (st *step) print() {
	r := st.res
	secs := r.Window.Seconds()
	per := func(d time.Duration) string {
		return (d / time.Duration(max(st.accepted, 1))).Round(time.Microsecond).String()
	}
	verdict := "sustained"
	if st.why != "" {
		verdict = "NOT sustained: " + st.why
	}
	fmt.Printf("%8.0f %9.0f %9.0f %8d %9s %9s %9.0f %9s %8s %10.2f %9s %8d %12d %9.1f  %s\n",
		st.rate, float64(r.Answered())/secs, float64(st.accepted)/secs, r.Answered()-st.accepted+r.Errors+r.Saturated,
		ms(r.Latency.ValueAtQuantile(50)), ms(r.Latency.ValueAtQuantile(99)), maxOf(st.backlog), st.settle.Round(100*time.Millisecond),
		per(st.cpu), st.cpu.Seconds()/(r.Elapsed+st.settle).Seconds(), mib(st.rss), st.disk/int64(max(st.accepted, 1)),
		r.SentBytes/int64(max(r.Offered-r.Saturated, 1)), st.perCommit, verdict)
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// setup starts a server and a driver of batches of size bytes for it, and
// the ledger of what it accepts.
func setup(ctx context.Context, c config, size int) (*server, *loadgen.Driver, *ledger, error) {
	s, err := startServer(ctx, c.binary, c.sites, c.serverArgs)
	if err != nil {
		return nil, nil, nil, err
	}
	dr, err := newDriver(c, s, size)
	if err != nil {
		s.stop()
		return nil, nil, nil, err
	}
	l := &ledger{}
	for range s.sites {
		l.sessions = append(l.sessions, map[string]bool{})
	}
	return s, dr, l, nil
}

// climb raises the rate by growth while steps are sustained and answers
// the highest sustained step (nil if none) and the last one run; while no
// step has been sustained, the first rate was too high: it halves it.
func climb(ctx context.Context, s *server, dr *loadgen.Driver, l *ledger, rate, growth float64, d time.Duration, steps int) (best, last *step, err error) {
	stepHeader()
	for range steps {
		st, err := runStep(ctx, s, dr, l, rate, d)
		if err != nil {
			return nil, nil, err
		}
		st.print()
		last = st
		switch {
		case st.why != "" && best != nil:
			return best, last, nil
		case st.why != "":
			rate /= 2
		default:
			best = st
			rate *= growth
		}
	}
	return best, last, nil
}

// stepRun steps one batch shape up from start until a step is not
// sustained, then profiles the server at the highest sustained rate and
// measures the bare handler there.
func stepRun(ctx context.Context, c config, size int, start float64) error {
	s, dr, l, err := setup(ctx, c, size)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Printf("\n== batches of %d bytes of JSON, sent gzip'd; %d sites, sessions of %d batches, %d open per site; steps of %v, ×%.2f; sightline serve (all in one, fresh data dir %s)\n",
		size, c.sites, c.perSession, c.live, c.step, c.growth, s.dir)
	// A short warm-up at half the first rate, counted in the ledger.
	warm, err := dr.Run(ctx, start/2, 5*time.Second)
	if err != nil {
		return err
	}
	l.add(warm)
	best, last, err := climb(ctx, s, dr, l, start, c.growth, c.step, c.maxSteps)
	if err != nil {
		return err
	}
	if best == nil {
		fmt.Printf("\nno step sustained, down to %.0f/s; the rest is at that rate: ", last.rate)
		best = last
	} else {
		fmt.Printf("\nhighest sustained: %.0f batches/s of %d bytes: ", best.rate, size)
	}
	best.print()

	// The bare handler at the same rate, its own process measured the same way.
	addr, proc, stopBare, err := bare(ctx)
	if err != nil {
		return err
	}
	bs, _ := proc.Stat()
	bdr := &loadgen.Driver{URL: "http://" + addr, Batches: dr.Batches, Client: loadgen.NewClient(c.inFlight), MaxInFlight: c.inFlight}
	br, err := bdr.Run(ctx, best.rate, c.step)
	if err != nil {
		stopBare()
		return err
	}
	be, _ := proc.Stat()
	stopBare()
	bareCPU := time.Duration((be.CPUTime() - bs.CPUTime()) * float64(time.Second))
	bareCPB := bareCPU / time.Duration(max(br.Status[http.StatusNoContent], 1))
	pipeCPB := best.cpu / time.Duration(max(best.accepted, 1))
	fmt.Printf("bare net/http 204 at the same rate: %.0f answered/s (%d non-204), p50 %s, p99 %s, CPU/batch %v, RSS %s\n",
		float64(br.Answered())/br.Window.Seconds(), br.Answered()-br.Status[http.StatusNoContent]+br.Errors+br.Saturated,
		ms(br.Latency.ValueAtQuantile(50)), ms(br.Latency.ValueAtQuantile(99)), bareCPB.Round(time.Microsecond), mib(int64(be.ResidentMemory())))
	fmt.Printf("ratio: the pipeline's CPU per batch is %.1f× the bare handler's at the same rate: on CPU alone it would reach %.3f of the bare handler's rate (issue 19's goal with 10 KB batches: ≥ 0.30)\n",
		float64(pipeCPB)/float64(max(bareCPB, 1)), float64(bareCPB)/float64(max(pipeCPB, 1)))

	if c.profile > 0 {
		path := profilePath(size)
		if err := s.profileUnder(c.profile, path, func(d time.Duration) error { _, err := dr.Run(ctx, best.rate, d); return err }); err != nil {
			return err
		}
		fmt.Printf("\nCPU profile of the server at %.0f batches/s for %v: %s\n", best.rate, c.profile, path)
		profileTop(path)
	}
	return nil
}
