package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// variantRun is one configuration of the A/B comparison: its own server
// process, fresh data directory, driver and ledger.
type variantRun struct {
	name   string
	binary string
	args   []string
	steps  []*step
}

// abRun compares two configurations of sightline serve (-server-args and
// -server-args-b; -binary and -binary-b, so a change can be measured
// against the build before it) in one machine state: both servers run side by side, each
// fed the same batch shape at the same constant rate, a step at a time in
// rounds whose order alternates, so drift of the shared machine falls on
// both. Each step's CPU is its own process's, from the step's start until
// what it accepted is stored and searchable (so deferred work is charged to
// the variant that caused it). It prints every step, then per variant the
// CPU and data directory growth per batch over all rounds, the recordings
// store's write amplification, tables, blob files and stalled time, and the
// ratio A/B (issue 13 states heatmaps' cost as such a ratio: make
// bench-pipeline-heatmaps).
func abRun(ctx context.Context, c config, binaryB string, argsB []string, rounds int) error {
	size, rate := c.sizes[0], c.starts[0]
	vs := []*variantRun{{name: "A", binary: c.binary, args: c.serverArgs}, {name: "B", binary: cmp.Or(binaryB, c.binary), args: argsB}}
	fmt.Printf("== A/B: sightline serve (all in one, fresh data dirs) at %.0f batches/s of %d bytes of JSON (sent gzip'd); %d sites; %d rounds of one %v step each, the order alternating\n",
		rate, size, c.sites, rounds, c.step)
	for _, v := range vs {
		fmt.Printf("   %s: %s serve %s\n", v.name, v.binary, orNone(v.args))
	}
	servers := make([]*server, len(vs))
	defer func() {
		for _, s := range servers {
			if s != nil {
				s.stop()
			}
		}
	}()
	// feeds[i] runs one step of variant i.
	feeds := make([]func() (*step, error), len(vs))
	for i, v := range vs {
		cv := c
		cv.binary, cv.serverArgs = v.binary, v.args
		s, dr, l, err := setup(ctx, cv, size)
		if err != nil {
			return fmt.Errorf("variant %s: %w", v.name, err)
		}
		servers[i] = s
		warm, err := dr.Run(ctx, rate/2, 5*time.Second)
		if err != nil {
			return fmt.Errorf("variant %s: warm-up: %w", v.name, err)
		}
		l.add(warm)
		feeds[i] = func() (*step, error) { return runStep(ctx, s, dr, l, rate, c.step) }
	}
	fmt.Printf("\n%-7s %-2s", "round", "")
	stepHeader()
	for r := range rounds {
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			st, err := feeds[i]()
			if err != nil {
				return fmt.Errorf("variant %s: %w", vs[i].name, err)
			}
			vs[i].steps = append(vs[i].steps, st)
			fmt.Printf("%-7d %-2s", r+1, vs[i].name)
			st.print()
		}
	}
	fmt.Println()
	cpb := make([]float64, len(vs))
	for i, v := range vs {
		var cpu time.Duration
		var disk int64
		var n int
		unsustained := 0
		for _, st := range v.steps {
			cpu += st.cpu
			disk += st.disk
			n += st.accepted
			if st.why != "" {
				unsustained++
			}
		}
		cpb[i] = float64(cpu) / float64(max(n, 1))
		fmt.Printf("%s: CPU %v per batch, data directory growth %d bytes per batch over %d rounds (%d batches)",
			v.name, time.Duration(cpb[i]).Round(time.Microsecond), disk/int64(max(n, 1)), rounds, n)
		if unsustained > 0 {
			fmt.Printf("; %d steps NOT sustained: the ratio below compares a pipeline that fell behind", unsustained)
		}
		fmt.Println()
		// The store's own figures since the server started (warm-up
		// included): what a storage change costs beyond CPU.
		if m, err := servers[i].metrics(); err == nil {
			fmt.Printf("   recordings store: write amplification %.2f, %.0f tables, %.0f blob files, %.1f s stalled\n",
				m.writeAmp(metrics{}), m.tables, m.blobFiles, m.stalled)
		}
	}
	per := make([]float64, rounds)
	for r := range rounds {
		a, b := vs[0].steps[r], vs[1].steps[r]
		per[r] = (float64(a.cpu) / float64(max(a.accepted, 1))) / (float64(b.cpu) / float64(max(b.accepted, 1)))
	}
	slices.Sort(per)
	fmt.Printf("CPU per batch A/B: all rounds %.3f×, median of rounds %.3f× (range %.3f–%.3f)\n",
		cpb[0]/max(cpb[1], 1), per[len(per)/2], per[0], per[len(per)-1])
	return nil
}

func orNone(args []string) string {
	if len(args) == 0 {
		return "(defaults)"
	}
	return strings.Join(args, " ")
}
