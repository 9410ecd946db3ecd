package accounts

import (
	"fmt"
	"strings"
	"time"

	// The zone check must answer the same on a host without
	// /usr/share/zoneinfo (distroless images), so the zone database is
	// compiled in whichever services the binary runs.
	_ "time/tzdata"

	"google.golang.org/protobuf/proto"

	accountsv1 "github.com/sightlinehq/sightline/gen/sightline/accounts/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
)

// Limits of a saved funnel (the proto's, which svc-search checks again
// when it computes one).
const (
	minFunnelSteps  = 2
	maxFunnelSteps  = 8
	maxFunnelLabel  = 100 // runes
	maxFunnelEvent  = 100 // runes, as batch.MaxEventName
	maxTimeZoneName = 64  // bytes; the longest IANA name is about 30
)

// checkLine trims v and checks it is valid UTF-8 of at most max runes on
// one line (no control characters at all).
func checkLine(field, v string, max int, required bool) (string, error) {
	return checkString(field, v, max, required, false)
}

// checkFunnel validates a funnel a client sent and returns a normalised
// copy (name, labels and event names trimmed; id, site and times dropped:
// the store owns them).
func checkFunnel(in *accountsv1.Funnel) (*accountsv1.Funnel, error) {
	if in == nil {
		return nil, invalid("funnel is required")
	}
	out := &accountsv1.Funnel{}
	var err error
	if out.Name, err = checkLine("funnel.name", in.GetName(), maxNameRunes, true); err != nil {
		return nil, err
	}
	steps := in.GetSteps()
	if len(steps) < minFunnelSteps || len(steps) > maxFunnelSteps {
		return nil, invalid("funnel.steps: want %d to %d steps, got %d", minFunnelSteps, maxFunnelSteps, len(steps))
	}
	for i, st := range steps {
		f := fmt.Sprintf("funnel.steps[%d]", i)
		if st == nil {
			return nil, invalid("%s is empty", f)
		}
		step := &trafficv1.FunnelStep{}
		if step.Label, err = checkLine(f+".label", st.GetLabel(), maxFunnelLabel, false); err != nil {
			return nil, err
		}
		switch m := st.GetMatch().(type) {
		case *trafficv1.FunnelStep_Page:
			if err := checkPage(f+".page", m.Page); err != nil {
				return nil, err
			}
			step.Match = &trafficv1.FunnelStep_Page{Page: proto.Clone(m.Page).(*searchv1.UrlMatch)}
		case *trafficv1.FunnelStep_Event:
			// Trimmed like a survey's trigger event: both name what the
			// page passes to sightline('event', name).
			ev, err := checkLine(f+".event", m.Event, maxFunnelEvent, true)
			if err != nil {
				return nil, err
			}
			step.Match = &trafficv1.FunnelStep_Event{Event: ev}
		default:
			return nil, invalid("%s needs a page rule or an event name", f)
		}
		out.Steps = append(out.Steps, step)
	}
	return out, nil
}

// checkTimeZone accepts "" (UTC) or an IANA zone name that loads, and
// returns it as given. "Local" (the server's zone, which differs between
// hosts) and anything that could name a file outside the zone database are
// refused before the database is asked.
func checkTimeZone(v string) (string, error) {
	const field = "settings.time_zone"
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if len(v) > maxTimeZoneName {
		return "", invalid("%s is longer than %d bytes", field, maxTimeZoneName)
	}
	if !zoneName(v) {
		return "", invalid("%s %q is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)", field, v)
	}
	if _, err := time.LoadLocation(v); err != nil {
		return "", invalid("%s %q is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)", field, v)
	}
	return v, nil
}

// zoneName tells whether v looks like an IANA zone name: slash-separated
// parts, each a letter followed by letters, digits, '_', '-' or '+'
// ("Etc/GMT+1", "America/Port-au-Prince"); no dots, so no "..". "Local"
// and the system directory's extra entries ("posix/…", "right/…",
// "posixrules", "localtime"), which the compiled-in database lacks, are
// refused so a zone means the same on every host.
func zoneName(v string) bool {
	switch {
	case v == "Local", v == "localtime", v == "posixrules",
		strings.HasPrefix(v, "posix/"), strings.HasPrefix(v, "right/"):
		return false
	}
	for _, part := range strings.Split(v, "/") {
		if part == "" || !isASCIILetter(part[0]) {
			return false
		}
		for i := 1; i < len(part); i++ {
			c := part[i]
			if !isASCIILetter(c) && (c < '0' || c > '9') && c != '_' && c != '-' && c != '+' {
				return false
			}
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
