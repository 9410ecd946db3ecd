package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// soak drives one server at a steady rate for c.duration, printing the
// server's state every minute, and then whether each series was flat.
func soak(ctx context.Context, c config) error {
	s, dr, l, err := setup(ctx, c, c.sizes[0])
	if err != nil {
		return err
	}
	defer s.stop()
	rate := c.rate
	if rate == 0 {
		// A quick step run (10 s steps) on the same server.
		fmt.Printf("soak: measuring capacity with 10 s steps from %.0f/s (batches of %d bytes)\n", c.starts[0], c.sizes[0])
		best, _, err := climb(ctx, s, dr, l, c.starts[0], c.growth, 10*time.Second, c.maxSteps)
		if err != nil {
			return err
		}
		if best == nil {
			return fmt.Errorf("soak: no step sustained from %.0f/s down: pass -rate or a lower -start", c.starts[0])
		}
		rate = best.rate / 2
	}
	fmt.Printf("\nsoak: %.0f batches/s of %d bytes for %v; every minute:\n", rate, c.sizes[0], c.duration)
	fmt.Printf("%6s %9s %9s %8s %9s %8s %6s %9s %10s %10s %9s %9s %7s %6s %8s\n", "min", "answered", "204/s", "non-204", "p99", "CPU/b", "CPUs", "RSS", "goroutines", "open files", "backlog", "lag", "tables", "W-amp", "stalled")
	var rss, gor, fds, backlog []float64
	u0, err := s.usage()
	if err != nil {
		return err
	}
	// The store's write amplification and stalls are the minute's.
	m0, err := s.metrics()
	if err != nil {
		return err
	}
	t0 := time.Now()
	// One CPU profile, in the second minute (warmed up) when it fits
	// there, else in the first: what the server spends at this rate.
	profileMinute := 0
	switch {
	case c.profile <= 0:
	case min(time.Minute, c.duration-time.Minute) > c.profile:
		profileMinute = 2
	case min(time.Minute, c.duration) > c.profile:
		profileMinute = 1
	default:
		fmt.Printf("(no CPU profile: -profile %v is longer than a minute of the soak)\n", c.profile)
	}
	profiled := make(chan error, 1)
	profiling := false
	began := time.Now()
	for minute := 1; time.Since(began) < c.duration; minute++ {
		d := min(time.Minute, c.duration-time.Since(began))
		if minute == profileMinute {
			profiling = true
			go func() { profiled <- s.profile(c.profile, profilePath(c.sizes[0])) }()
		}
		res, err := dr.Run(ctx, rate, d)
		if err != nil {
			return err
		}
		l.add(res)
		// The driver's idle connections follow its peak of requests in
		// flight: closed, the server's open files and goroutines are its
		// own (what a leak would grow), not the load's.
		dr.Client.CloseIdleConnections()
		time.Sleep(500 * time.Millisecond)
		u, err := s.usage()
		if err != nil {
			return err
		}
		m, err := s.metrics()
		if err != nil {
			return err
		}
		ok := res.Status[http.StatusNoContent]
		// CPU per batch: the server's CPU over the minute (the sampling
		// pause included) over the batches it accepted in it.
		cpu, secs := u.cpu-u0.cpu, time.Since(t0)
		u0, t0 = u, time.Now()
		wamp := m.writeAmp(m0)
		fmt.Printf("%6d %9.0f %9.0f %8d %9s %8s %6.2f %9s %10.0f %10d %9.0f %8.1fs %7.0f %6.2f %7.1fs\n", minute,
			float64(res.Answered())/res.Window.Seconds(), float64(ok)/res.Window.Seconds(), res.Answered()-ok+res.Errors+res.Saturated,
			ms(res.Latency.ValueAtQuantile(99)), (cpu / time.Duration(max(ok, 1))).Round(time.Microsecond), cpu.Seconds()/secs.Seconds(),
			mib(u.rss), m.goroutines, u.fds, m.spoolRecords, m.spoolAge, m.tables, wamp, m.stalled-m0.stalled)
		m0 = m
		rss, gor, fds, backlog = append(rss, float64(u.rss)), append(gor, m.goroutines), append(fds, float64(u.fds)), append(backlog, m.spoolRecords)
	}
	if profiling {
		if err := <-profiled; err != nil {
			return err
		}
		fmt.Printf("\nCPU profile of the server at %.0f batches/s for %v: %s\n", rate, c.profile, profilePath(c.sizes[0]))
		profileTop(profilePath(c.sizes[0]))
	}
	fmt.Println("\nflat: the mean of the last third of the minutes is at most 1.25× that of the middle third, or within the slack:")
	for _, series := range []struct {
		name  string
		xs    []float64
		slack float64
	}{
		{"RSS", rss, 32 << 20}, {"goroutines", gor, 50}, {"open files", fds, 20}, {"spool backlog (records)", backlog, 200},
	} {
		verdict := "flat"
		if !flat(series.xs, series.slack) {
			verdict = "NOT flat"
		}
		fmt.Printf("  %-24s %s (slack %.0f)\n", series.name, verdict, series.slack)
	}
	settle, ok, why := l.settled(ctx, s, 2*time.Minute)
	if !ok {
		fmt.Printf("accepted = stored = searchable: NOT within %v: %s\n", settle.Round(time.Second), why)
		return nil
	}
	fmt.Printf("accepted = stored = searchable: %.0f batches, all stored and their sessions searchable %v after the load\n", l.batches, settle.Round(100*time.Millisecond))
	return nil
}
