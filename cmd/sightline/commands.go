package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sightlinehq/sightline/cmd/sightline/app"
	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	searchv1 "github.com/sightlinehq/sightline/gen/sightline/search/v1"
	"github.com/sightlinehq/sightline/platform/rpc"
	"github.com/sightlinehq/sightline/platform/telemetry"
	accounts "github.com/sightlinehq/sightline/svc-accounts"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
	search "github.com/sightlinehq/sightline/svc-search"
)

// migrate applies accounts' schema migrations (they also run on start).
func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := accounts.Migrate(ctx, cfg.Accounts, cfg.DataDir); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(stderr, "migrations applied")
	return nil
}

const adminUsage = `Usage:
  sightline admin create-user -email E -password-file F [-organization NAME] [-operator] [serve flags]
  sightline admin maintenance -on|-off [-message TEXT] [serve flags]
`

// adminCommand runs operator tasks directly against accounts' database.
func adminCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return errors.New("admin: no command given")
	}
	switch args[0] {
	case "create-user":
		var email, passwordFile, org string
		var operator bool
		cfg, _, err := loadConfig("admin create-user", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&email, "email", "", "E-mail address of the new user.")
			fs.StringVar(&passwordFile, "password-file", "", "File holding the password (never a flag value, so it stays out of shell history).")
			fs.StringVar(&org, "organization", "", "Name of the user's first organisation (default: from the e-mail).")
			fs.BoolVar(&operator, "operator", false, "Make the user an operator of this installation.")
		})
		if err != nil {
			return err
		}
		if email == "" || passwordFile == "" {
			return errors.New("admin create-user: -email and -password-file are required")
		}
		pw, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("admin create-user: -password-file: %w", err)
		}
		if org == "" {
			org = email
		}
		adm, err := accounts.OpenAdmin(ctx, cfg.Accounts, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer adm.Close()
		userID, orgID, err := adm.CreateUser(ctx, email, trimNewline(string(pw)), org, operator)
		if err != nil {
			return fmt.Errorf("admin create-user: %w", err)
		}
		fmt.Fprintf(stdout, "created user %d in organisation %d\n", userID, orgID)
		return nil
	case "maintenance":
		var on, off bool
		var message string
		cfg, _, err := loadConfig("admin maintenance", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.BoolVar(&on, "on", false, "Turn maintenance mode on.")
			fs.BoolVar(&off, "off", false, "Turn maintenance mode off.")
			fs.StringVar(&message, "message", "", "Banner shown in the dashboard.")
		})
		if err != nil {
			return err
		}
		if on == off {
			return errors.New("admin maintenance: give exactly one of -on and -off")
		}
		adm, err := accounts.OpenAdmin(ctx, cfg.Accounts, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer adm.Close()
		if err := adm.SetMaintenance(ctx, on, message); err != nil {
			return fmt.Errorf("admin maintenance: %w", err)
		}
		fmt.Fprintf(stdout, "maintenance mode %s\n", map[bool]string{true: "on", false: "off"}[on])
		return nil
	default:
		fmt.Fprint(stderr, adminUsage)
		return fmt.Errorf("admin: unknown command %q", args[0])
	}
}

// reindex rebuilds search from recordings' summaries over gRPC, resumably.
func reindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var siteID int64
	var recordingsAddr, searchAddr, cursor string
	cfg, _, err := loadConfig("reindex", args, stderr, func(fs *flag.FlagSet) {
		fs.Int64Var(&siteID, "site", 0, "Site to reindex (0: every site).")
		fs.StringVar(&recordingsAddr, "from", "127.0.0.1:9090", "gRPC address of svc-recordings.")
		fs.StringVar(&searchAddr, "to", "127.0.0.1:9090", "gRPC address of svc-search.")
		fs.StringVar(&cursor, "cursor-file", "", "Where progress is kept so an interrupted run resumes (default: <data-dir>/reindex.cursor).")
	})
	if err != nil {
		return err
	}
	if cursor == "" {
		cursor = filepath.Join(cfg.DataDir, "reindex.cursor")
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "sightline-reindex", Version: app.Version()})
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx))
	// The command's calls are one trace (calls outside any span are not
	// exported: telemetry.NoOrphanCalls).
	ctx, span := tel.Tracer("github.com/sightlinehq/sightline/cmd/sightline").Start(ctx, "sightline reindex")
	defer span.End()
	secret, err := cfg.ServiceSecret(false)
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	opts := rpc.ClientOptions{DefaultTimeout: cfg.Server.ClientTimeout, MaxRecvMsgBytes: cfg.Server.MaxMessageBytes, ServiceSecret: secret}
	rc, err := rpc.Dial(recordingsAddr, tel, opts)
	if err != nil {
		return fmt.Errorf("reindex: -from: %w", err)
	}
	defer rc.Close()
	sc, err := rpc.Dial(searchAddr, tel, opts)
	if err != nil {
		return fmt.Errorf("reindex: -to: %w", err)
	}
	defer sc.Close()
	dst := searchv1.NewSearchInternalServiceClient(sc)
	if err := search.Reindex(ctx, recordingsv1.NewRecordingsInternalServiceClient(rc), dst, siteID, cursor, stdout); err != nil {
		return credentialRefused(err)
	}
	if siteID != 0 {
		return nil
	}
	// Every site was re-sent: what an index upgrade's refresh waits for.
	r, err := dst.FinishReindex(ctx, &searchv1.FinishReindexRequest{})
	if err != nil {
		return credentialRefused(fmt.Errorf("reindex: tell search the reindex is complete: %w", err))
	}
	if r.GetRefreshed() {
		fmt.Fprintln(stdout, "search's index refresh for its new schema is done")
	}
	return nil
}

// credentialRefused says what to do when a server refuses a command's
// service credential, which running the command again cannot fix.
func credentialRefused(err error) error {
	if status.Code(err) != codes.Unauthenticated {
		return err
	}
	return fmt.Errorf("%w\nthe server refused the service credential: give the command the secret its processes read (--server.service-secret-file, or the --data-dir of a single `sightline serve`)", err)
}

const heatmapsUsage = `Usage:
  sightline heatmaps rebuild -site N [-since YYYY-MM-DD] [-from ADDR] [serve flags]
      recompute a site's heatmap aggregates from its stored recordings (days
      from -since, UTC; every day when it is not given). Recordings keeps the
      run's cursor: a run cut off resumes when started again with the same
      -site and -since.
`

// heatmapsCommand runs heatmap maintenance against svc-recordings over gRPC.
func heatmapsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := func(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprint(stderr, heatmapsUsage)
		if len(args) > 0 && help(args[0]) {
			return flag.ErrHelp
		}
		return errors.New("heatmaps: give rebuild")
	}
	var siteID int64
	var since, recordingsAddr string
	cfg, _, err := loadConfig("heatmaps rebuild", args[1:], stderr, func(fs *flag.FlagSet) {
		fs.Int64Var(&siteID, "site", 0, "Site whose heatmaps to rebuild (required).")
		fs.StringVar(&since, "since", "", "First UTC day to recompute, YYYY-MM-DD (default: every day).")
		fs.StringVar(&recordingsAddr, "from", "127.0.0.1:9090", "gRPC address of svc-recordings.")
	})
	if err != nil {
		return err
	}
	if siteID <= 0 {
		return errors.New("heatmaps rebuild: -site: a positive site id is required")
	}
	req := &recordingsv1.RebuildHeatmapsRequest{SiteId: siteID}
	if since != "" {
		day, err := time.Parse(time.DateOnly, since)
		if err != nil {
			return fmt.Errorf("heatmaps rebuild: -since: %q is not a date YYYY-MM-DD", since)
		}
		req.Since = timestamppb.New(day)
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "sightline-heatmaps", Version: app.Version()})
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx))
	ctx, span := tel.Tracer("github.com/sightlinehq/sightline/cmd/sightline").Start(ctx, "sightline heatmaps rebuild")
	defer span.End() // one trace for the command's calls, as for reindex
	secret, err := cfg.ServiceSecret(false)
	if err != nil {
		return fmt.Errorf("heatmaps rebuild: %w", err)
	}
	conn, err := rpc.Dial(recordingsAddr, tel, rpc.ClientOptions{DefaultTimeout: cfg.Server.ClientTimeout, MaxRecvMsgBytes: cfg.Server.MaxMessageBytes, ServiceSecret: secret})
	if err != nil {
		return fmt.Errorf("heatmaps rebuild: -from: %w", err)
	}
	defer conn.Close()
	return credentialRefused(rebuildHeatmaps(ctx, recordingsv1.NewRecordingsInternalServiceClient(conn), req, stdout, stderr))
}

// rebuildHeatmaps follows RebuildHeatmaps' progress on a bar (stderr) and
// prints the outcome (stdout).
func rebuildHeatmaps(ctx context.Context, rc recordingsv1.RecordingsInternalServiceClient, req *recordingsv1.RebuildHeatmapsRequest, stdout, stderr io.Writer) error {
	desc := fmt.Sprintf("heatmaps of site %d", req.GetSiteId())
	if req.GetSince() != nil {
		desc += " since " + req.GetSince().AsTime().Format(time.DateOnly)
	}
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("sessions"),
		progressbar.OptionThrottle(200*time.Millisecond),
		// Render on progress only: no ticker goroutine outlives a failed run.
		progressbar.OptionSetSpinnerChangeInterval(0),
	)
	start := time.Now()
	var last *recordingsv1.RebuildHeatmapsResponse
	stopped := func(err error) error {
		fmt.Fprintln(stderr)
		if c := status.Code(err); c == codes.InvalidArgument || c == codes.Unauthenticated {
			return fmt.Errorf("heatmaps rebuild: %w", err)
		}
		return fmt.Errorf("heatmaps rebuild: stopped after %d sessions (run it again to resume): %w", last.GetSessionsDone(), err)
	}
	stream, err := rc.RebuildHeatmaps(ctx, req)
	if err != nil {
		return stopped(err)
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stopped(err)
		}
		if t := m.GetSessionsTotal(); t > 0 && (last == nil || last.GetSessionsTotal() != t) {
			bar.ChangeMax64(t)
		}
		_ = bar.Set64(m.GetSessionsDone())
		last = m
	}
	if !last.GetFinished() {
		fmt.Fprintln(stderr)
		return errors.New("heatmaps rebuild: the stream ended before the rebuild finished (run it again to resume)")
	}
	_ = bar.Finish()
	fmt.Fprintln(stderr)
	_, err = fmt.Fprintf(stdout, "rebuilt the heatmaps of site %d: %d sessions in %s\n",
		req.GetSiteId(), last.GetSessionsTotal(), time.Since(start).Round(time.Millisecond))
	return err
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

const spoolUsage = `Usage:
  sightline spool dead-letter list [serve flags]
      the dead letters: id, site, session, seq, reason, quarantine time, size
  sightline spool dead-letter show ID [-events N] [serve flags]
      one dead letter: its metadata and the chunk as JSON (the first N events)
  sightline spool dead-letter replay ID|-all [-wait D] [serve flags]
      put dead letters back in the spool; the forwarder sends them again

The dead-letter area is <spool>/dead/ (the spool is -ingest.spool.dir, by
default <data-dir>/spool): records recordings refused for good, that failed
past ingest.forward.max-attempts, or that are not chunks. They are kept for
ingest.spool.dead-letter.retention. list and show only read, so they work
while ingest runs. replay works either way: while ingest runs (it holds the
spool's lock) the command leaves a request in <spool>/dead/replay/ that the
running ingest carries out within a second, and waits for it (-wait); with
ingest stopped the command appends the records to the spool itself.
`

// spoolCommand inspects and replays the spool's dead-letter area.
func spoolCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := func(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }
	if len(args) < 2 || args[0] != "dead-letter" || help(args[1]) {
		fmt.Fprint(stderr, spoolUsage)
		if len(args) > 0 && (help(args[0]) || len(args) > 1 && help(args[1])) {
			return flag.ErrHelp
		}
		return errors.New("spool: give dead-letter list|show|replay")
	}
	sub, rest := args[1], args[2:]
	// The id comes before the flags (flag parsing stops at the first
	// argument that is not a flag).
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	var all bool
	var events int
	var wait time.Duration
	cfg, _, err := loadConfig("spool dead-letter "+sub, rest, stderr, func(fs *flag.FlagSet) {
		switch sub {
		case "show":
			fs.IntVar(&events, "events", 5, "How many of the chunk's events to print (each cut at 1 KiB).")
		case "replay":
			fs.BoolVar(&all, "all", false, "Replay every dead letter.")
			fs.DurationVar(&wait, "wait", 30*time.Second, "How long to wait for a running ingest to carry out the request.")
		}
	})
	if err != nil {
		return err
	}
	dir := cfg.Ingest.SpoolDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "spool")
	}
	switch sub {
	case "list":
		return deadLetterList(dir, stdout)
	case "show":
		if id == "" {
			return errors.New("spool dead-letter show: give the dead letter's id (see list)")
		}
		return deadLetterShow(dir, id, events, stdout)
	case "replay":
		switch {
		case all && id != "":
			return errors.New("spool dead-letter replay: give an id or -all, not both")
		case all:
			id = spool.ReplayAll
		case id == "":
			return errors.New("spool dead-letter replay: give an id (see list) or -all")
		}
		return deadLetterReplay(ctx, cfg, dir, id, wait, stdout)
	default:
		fmt.Fprint(stderr, spoolUsage)
		return fmt.Errorf("spool dead-letter: unknown command %q", sub)
	}
}

func deadLetterList(dir string, stdout io.Writer) error {
	list, err := spool.ListDead(dir)
	if err != nil {
		return fmt.Errorf("spool dead-letter list: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tSESSION\tSEQ\tREASON\tQUARANTINED\tSIZE\tATTEMPTS\tDETAIL")
	for _, d := range list {
		detail := d.Detail
		if len(detail) > 80 {
			detail = strings.ToValidUTF8(detail[:80], "") + "…"
		}
		session := d.SessionID
		if session == "" {
			session = "-" // not a chunk: keep the columns aligned for scripts
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", d.ID, d.SiteID, session, d.Seq, d.Reason,
			d.Quarantined.UTC().Format(time.RFC3339), d.Size, d.Attempts, detail)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("spool dead-letter list: %w", err)
	}
	fmt.Fprintf(stdout, "%d dead letters\n", len(list))
	return nil
}

// maxShownEvent is where show cuts one event's JSON.
const maxShownEvent = 1024

func deadLetterShow(dir, id string, events int, stdout io.Writer) error {
	d, payload, err := spool.ReadDead(dir, id)
	if err != nil {
		return fmt.Errorf("spool dead-letter show: %w", err)
	}
	out := map[string]any{"dead_letter": d}
	var c recordingsv1.Chunk
	if err := proto.Unmarshal(payload, &c); err != nil {
		// Not a chunk (or one with invalid UTF-8 in a string): show the
		// bytes, cut, rather than nothing.
		out["payload_error"] = err.Error()
		out["payload"] = strconv.Quote(string(payload[:min(len(payload), 4*maxShownEvent)]))
	} else {
		evs := c.Events
		c.Events = nil
		meta, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&c)
		if err != nil {
			return fmt.Errorf("spool dead-letter show: %w", err)
		}
		out["chunk"] = json.RawMessage(meta)
		var list []json.RawMessage
		if json.Unmarshal(evs, &list) != nil {
			out["events_error"] = "events are not a JSON array"
			out["events"] = strconv.Quote(string(evs[:min(len(evs), 4*maxShownEvent)]))
		} else {
			shown := make([]any, 0, min(events, len(list)))
			for _, e := range list[:min(max(events, 0), len(list))] {
				if len(e) > maxShownEvent {
					shown = append(shown, map[string]any{"cut_at": maxShownEvent, "bytes": len(e), "json": string(e[:maxShownEvent])})
					continue
				}
				shown = append(shown, e)
			}
			out["events"] = shown
			out["events_total"] = len(list)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("spool dead-letter show: %w", err)
	}
	return nil
}

func deadLetterReplay(ctx context.Context, cfg app.Config, dir, id string, wait time.Duration, stdout io.Writer) error {
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: cfg.Ingest.SpoolMaxBytes, SegmentBytes: cfg.Ingest.SpoolSegmentBytes,
		DeadRetention: cfg.Ingest.DeadLetterRetention, DeadMaxBytes: cfg.Ingest.DeadLetterMaxBytes})
	if err == nil {
		// Ingest is stopped: append here; it sends them when it starts.
		n, err := sp.Replay(ctx, id)
		if cerr := sp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("spool dead-letter replay: %w", err)
		}
		fmt.Fprintf(stdout, "%d dead letters put back in the spool; ingest sends them when it runs\n", n)
		return nil
	}
	if !errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("spool dead-letter replay: %w", err)
	}
	req, err := spool.RequestReplay(dir, id)
	if err != nil {
		return fmt.Errorf("spool dead-letter replay: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(req); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stdout, "replay of %s carried out by the running ingest\n", id)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spool dead-letter replay: the running ingest has not carried out %s within %s; it stays queued (see ingest's log)", req, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
