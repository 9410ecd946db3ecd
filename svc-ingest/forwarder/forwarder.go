// Package forwarder delivers ingest's spool to RecordingsService.AppendChunks
// — or to any sink of the same shape, such as search's
// TrafficService.AppendHits for the traffic spool (Traffic).
//
// It reads the spool in order and keeps up to InFlight AppendChunks calls
// in flight (DefaultInFlight), each carrying the next batch, so that
// recordings prepares some calls' chunks while it writes (and syncs)
// others'. It acknowledges (moves the persisted cursor past) a batch only
// once recordings accounted for every chunk of it and of every batch
// before it: stored, duplicate, or refused for good. The cursor never passes a batch
// that is not settled, whatever the calls after it did; a restart reads
// again from the cursor, so delivery is at least once (recordings
// de-duplicates by site, session and seq). Each call's span links to the
// intake spans of the chunks it carries.
//
// A transient failure is retried with exponential backoff and full jitter.
// While a call has failed no new one starts: the calls in flight finish,
// then the failed batches are retried one after another in spool order
// (the slow path below), and the next calls start once they are settled.
//
// Order: batches are read and their calls started in spool order, and a
// call carries its chunks in spool order, but calls in flight overlap, so
// recordings may store a later batch before an earlier one — and a later
// batch lands first when the earlier one's call failed and is retried.
// Recordings' store allows it: an append is idempotent by key and a
// session's summary is the fold of its chunks in key order, whatever
// order they arrive in. With InFlight 1 per-session order holds: a batch
// is sent until settled before the next is read.
//
// No record can stop delivery, and none is dropped: the forwarder moves
// into the spool's dead-letter area, and goes on at once with the next,
//
//   - a chunk recordings answers REFUSED for (per-chunk results), or that a
//     one-chunk call gets InvalidArgument for (recordings without per-chunk
//     results, or a request-level refusal: the batch is halved until the
//     refused chunks are found);
//   - a record that is not a Chunk;
//   - a chunk that, sent alone, failed MaxAttempts times in a row while the
//     record after it was stored: recordings works, this chunk does not.
//     A batch that fails IsolateAfter times is sent one chunk at a time so
//     that such a chunk is found. Without that proof nothing is
//     dead-lettered: during an outage of recordings, however long, every
//     record waits in the spool.
//
// An outage is logged twice, not per attempt: a warning with the error
// when delivery starts failing and an info line with how long and how many
// attempts when recordings answers again (per-attempt detail is at debug
// level). Recordings' state is exported through Recordings (depstate) as
// sightline.dependency.up{dependency="recordings",component="forwarder"}.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordingsv1 "github.com/sightlinehq/sightline/gen/sightline/recordings/v1"
	trafficv1 "github.com/sightlinehq/sightline/gen/sightline/traffic/v1"
	"github.com/sightlinehq/sightline/platform/depstate"
	"github.com/sightlinehq/sightline/svc-ingest/spool"
)

// DefaultInFlight is InFlight's default. In bench-pipeline (all in one, 10
// KB batches, steps of 30 s ×1.25) 4 sustained 2,000 batches/s in each of
// three runs (2,500 in none) where 2 sustained only 1,600 in each of two,
// with the edge's p50 at 1,600/s 9.5–10.4 ms against 22.9–29.1 ms and
// about the same CPU per batch and RSS; 8 sustained 2,500 once and 2,000
// once, with 50–120 MiB more RSS. With 60 KB batches (calls near
// BatchBytes) 4 was no better than 2, within the bench's noise: 625/s
// sustained in both of its runs against 781, 625 and 625.
const DefaultInFlight = 4

// Dead-letter reasons (the metric's reason attribute).
const (
	ReasonRefused          = "refused"           // per-chunk outcome REFUSED
	ReasonInvalidArgument  = "invalid_argument"  // a one-chunk call answered InvalidArgument
	ReasonUndecodable      = "undecodable"       // the record is not a Chunk
	ReasonAttemptsExceeded = "attempts_exceeded" // failed alone MaxAttempts times while the next record was stored
)

// Sink is where a forwarder delivers: AppendChunks' request and answer.
// recordingsv1.RecordingsInternalServiceClient is one; Traffic adapts search's
// TrafficService.AppendHits.
type Sink interface {
	AppendChunks(ctx context.Context, in *recordingsv1.AppendChunksRequest, opts ...grpc.CallOption) (*recordingsv1.AppendChunksResponse, error)
}

// Traffic is search's TrafficService.AppendHits as a Sink: messages of the
// same wire form and per-chunk outcomes as AppendChunks.
func Traffic(c trafficv1.TrafficInternalServiceClient) Sink { return trafficSink{c} }

type trafficSink struct {
	c trafficv1.TrafficInternalServiceClient
}

// AppendChunks sends the request as AppendHitsRequest, which has the same
// wire form: the pre-encoded chunks (request's unknown fields) move over
// as they are, without decoding.
func (t trafficSink) AppendChunks(ctx context.Context, in *recordingsv1.AppendChunksRequest, opts ...grpc.CallOption) (*recordingsv1.AppendChunksResponse, error) {
	req := &trafficv1.AppendHitsRequest{Chunks: in.GetChunks()}
	req.ProtoReflect().SetUnknown(in.ProtoReflect().GetUnknown())
	out, err := t.c.AppendHits(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	return &recordingsv1.AppendChunksResponse{
		Stored: out.GetStored(), Duplicates: out.GetDuplicates(), Results: out.GetResults(), Refused: out.GetRefused(),
	}, nil
}

// Forwarder is configured by its fields and started with Run.
type Forwarder struct {
	Spool  *spool.Spool
	Client Sink
	// SinkName names the sink in its dependency state and logs
	// (default "recordings").
	SinkName     string
	Tracer       trace.Tracer
	Logger       *slog.Logger
	BatchRecords int
	BatchBytes   int
	BackoffMin   time.Duration
	BackoffMax   time.Duration
	Timeout      time.Duration
	// IsolateAfter is how many transient failures of a batch of several
	// chunks lead to sending them one at a time (default 3).
	IsolateAfter int
	// MaxAttempts is how many transient failures of a chunk sent alone
	// make it a suspect; it is dead-lettered once the record after it is
	// then stored (default 8: about 3-6 s of backoff from 100 ms to 2 s).
	MaxAttempts int
	// InFlight is how many AppendChunks calls may be in flight at once,
	// each with its own batch (default DefaultInFlight; 1: one call at a
	// time, in order).
	InFlight     int
	OnDelivered  func(n int)
	OnFailure    func(err error)
	OnDeadLetter func(reason string)

	mu    sync.Mutex
	stats Stats

	// Run's goroutine only:
	buf    []byte   // the request being assembled by the slow path
	bufs   [][]byte // spare request buffers for pipelined calls
	window []*batch // read and not acknowledged, in spool order

	depOnce sync.Once
	dep     *depstate.State
}

// Recordings is the sink (recordings unless SinkName says otherwise) as
// the forwarder sees it: up, or failing since a time. Set Logger and
// SinkName before the first call.
func (f *Forwarder) Recordings() *depstate.State {
	f.depOnce.Do(func() {
		name := f.SinkName
		if name == "" {
			name = "recordings"
		}
		f.dep = depstate.New(f.Logger, name, "forwarder")
	})
	return f.dep
}

// Stats is a snapshot.
type Stats struct {
	Delivered, Failures, DeadLettered int64
	LastDelivery, LastDeadLetter      time.Time
	// Started is when Run began: progress is measured from it until the
	// first delivery.
	Started   time.Time
	LastError string
}

// LastProgress is when the forwarder last moved a record out of the spool
// (delivered or dead-lettered), or started.
func (s Stats) LastProgress() time.Time {
	t := s.Started
	if s.LastDelivery.After(t) {
		t = s.LastDelivery
	}
	if s.LastDeadLetter.After(t) {
		t = s.LastDeadLetter
	}
	return t
}

// Stats returns a snapshot.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// batch is what Run read and will acknowledge: the records (every one is
// acknowledged once delivered or dead-lettered) and the chunks among them
// still to deliver.
type batch struct {
	recs  []spool.Record
	items []*item
	fl    *flight
}

// flight is a batch's first call, made in a goroutine of its own so that
// several overlap. The goroutine writes outcomes and err before done ends;
// Run's goroutine reads them after.
type flight struct {
	sent     []*item
	buf      []byte
	outcomes []outcome
	err      error
	done     context.Context
}

// item is one spool record holding an encoded recordingsv1.Chunk.
type item struct {
	rec         spool.Record
	traceparent string
	attempts    int  // failed sends that carried it
	done        bool // delivered or dead-lettered
	delivered   bool // recordings stored it (or had it already)
}

// Run delivers until ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.BatchRecords <= 0 {
		f.BatchRecords = 256
	}
	if f.BatchBytes <= 0 {
		f.BatchBytes = 4 << 20
	}
	if f.BackoffMin <= 0 {
		f.BackoffMin = 100 * time.Millisecond
	}
	if f.BackoffMax < f.BackoffMin {
		f.BackoffMax = 2 * time.Second
	}
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	if f.IsolateAfter <= 0 {
		f.IsolateAfter = 3
	}
	if f.MaxAttempts <= 0 {
		f.MaxAttempts = 8
	}
	if f.InFlight <= 0 {
		f.InFlight = DefaultInFlight
	}
	f.mu.Lock()
	f.stats.Started = time.Now()
	f.mu.Unlock()
	f.window = nil
	defer f.wait()
	for {
		if len(f.window) > 0 && ended(f.window[0].fl.done) {
			if err := f.land(ctx); err != nil {
				return err // only ctx ending stops delivery
			}
			continue
		}
		if len(f.window) < f.InFlight && !f.failing() {
			recs, err := f.read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("forwarder: read spool: %w", err)
			}
			if len(recs) == 0 {
				continue // the oldest call returned
			}
			b := &batch{}
			if err := f.add(ctx, b, recs); err != nil {
				return err
			}
			f.launch(ctx, b)
			f.window = append(f.window, b)
			continue
		}
		select {
		case <-f.window[0].fl.done.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// read reads the next batch from the spool. While calls are in flight it
// returns no record, rather than wait for one, once the oldest call
// returns: that batch is then to be settled and acknowledged.
func (f *Forwarder) read(ctx context.Context) ([]spool.Record, error) {
	if len(f.window) == 0 {
		return f.Spool.Read(ctx, f.BatchRecords, f.BatchBytes)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(f.window[0].fl.done, cancel)
	defer stop()
	recs, err := f.Spool.Read(rctx, f.BatchRecords, f.BatchBytes)
	if err != nil && len(recs) == 0 && ctx.Err() == nil && rctx.Err() != nil {
		return nil, nil
	}
	return recs, err
}

// launch starts b's first call.
func (f *Forwarder) launch(ctx context.Context, b *batch) {
	fl := &flight{sent: b.items}
	done, finish := context.WithCancel(context.Background())
	fl.done, b.fl = done, fl
	if len(fl.sent) == 0 { // every record was dead-lettered as it was read
		finish()
		return
	}
	if n := len(f.bufs); n > 0 {
		fl.buf, f.bufs = f.bufs[n-1], f.bufs[:n-1]
	}
	go func() {
		defer finish()
		fl.outcomes, fl.err = f.send(ctx, fl.sent, 1, &fl.buf)
	}()
}

// ended reports whether ctx has ended, without waiting.
func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// failing reports whether a call in flight has failed: no new one starts
// until the slow path has settled it.
func (f *Forwarder) failing() bool {
	for _, b := range f.window {
		if ended(b.fl.done) && b.fl.err != nil {
			return true
		}
	}
	return false
}

// wait waits for every call in flight to return (they end with Run's ctx).
func (f *Forwarder) wait() {
	for _, b := range f.window {
		<-b.fl.done.Done()
	}
}

// land settles and acknowledges the oldest batch, whose call returned. If
// that call failed, recover takes over.
func (f *Forwarder) land(ctx context.Context) error {
	b := f.window[0]
	if b.fl.err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return f.recover(ctx)
	}
	if len(b.fl.sent) > 0 {
		if err := f.settle(ctx, b.fl.sent, b.fl.outcomes); err != nil {
			return err
		}
	}
	f.ack(ctx)
	return nil
}

// recover is the slow path, entered when the oldest call failed: it waits
// for the other calls in flight, accounts for every call's answer in spool
// order (a failure counts against recordings' state once, as a first
// attempt; a success settles its chunks), then delivers each batch that is
// not settled — retries, isolation, bisection, dead letters — and
// acknowledges it, in spool order.
func (f *Forwarder) recover(ctx context.Context) error {
	for _, b := range f.window {
		select {
		case <-b.fl.done.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // a call may have failed because ctx ended
	}
	for _, b := range f.window {
		switch fl := b.fl; {
		case len(fl.sent) == 0:
		case fl.err == nil:
			if err := f.settle(ctx, fl.sent, fl.outcomes); err != nil {
				return err
			}
		default:
			f.failed(ctx, fl.sent, fl.err)
		}
	}
	for len(f.window) > 0 {
		if err := f.deliver(ctx, f.window[0].fl.err); err != nil {
			return err
		}
		f.ack(ctx)
	}
	return nil
}

// ack acknowledges the oldest batch, which is settled, and drops it from
// the window.
func (f *Forwarder) ack(ctx context.Context) {
	b := f.window[0]
	if err := f.Spool.Ack(b.recs[len(b.recs)-1].Next, len(b.recs)); err != nil {
		// The batch was delivered; a failed cursor write only means it
		// may be delivered again after a restart. Keep going.
		f.Logger.ErrorContext(ctx, "forwarder: persist cursor", "error", err)
	}
	if b.fl.buf != nil {
		f.bufs = append(f.bufs, b.fl.buf)
	}
	f.window[0] = nil
	f.window = f.window[1:]
}

// add appends records to b. The records are encoded Chunks (encoded once,
// at intake): they are sent as they are, not decoded and encoded again. A
// scan of their top-level fields finds each one's traceparent and catches
// a record that is not a Chunk, which is dead-lettered at once.
func (f *Forwarder) add(ctx context.Context, b *batch, recs []spool.Record) error {
	b.recs = append(b.recs, recs...)
	for _, r := range recs {
		tp, err := scanChunk(r.Payload)
		if err != nil {
			// Checksummed yet undecodable: a bug, not a transient fault.
			if err := f.quarantine(ctx, &item{rec: r}, ReasonUndecodable, err.Error()); err != nil {
				return err
			}
			continue
		}
		b.items = append(b.items, &item{rec: r, traceparent: tp})
	}
	return nil
}

// deliver sends the oldest batch's chunks that are not settled until each
// is delivered or dead-lettered, or ctx ends. err, if not nil, is the
// failure of its first call (pipelined), already counted.
func (f *Forwarder) deliver(ctx context.Context, err error) error {
	b := f.window[0]
	backoff := f.BackoffMin
	for attempt := 1; ; attempt++ {
		items := pending(b.items)
		if len(items) == 0 {
			return nil
		}
		if attempt > 1 || err == nil {
			var outcomes []outcome
			outcomes, err = f.send(ctx, items, attempt, &f.buf)
			if err == nil {
				return f.settle(ctx, items, outcomes)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.failed(ctx, items, err)
		}
		var slow error
		switch {
		case status.Code(err) == grpccodes.InvalidArgument && len(items) == 1:
			slow = f.quarantine(ctx, items[0], ReasonInvalidArgument, grpcMessage(err))
		case status.Code(err) == grpccodes.InvalidArgument:
			// Recordings refuses the request for good and says not which
			// chunk: find it.
			slow = f.bisect(ctx, items)
		case attempt >= f.IsolateAfter && len(items) > 1:
			// Failing again and again: perhaps recordings is down,
			// perhaps one chunk fails the call. One at a time tells.
			f.Logger.DebugContext(ctx, "forwarder: batch keeps failing; sending its chunks one at a time", "attempts", attempt, "chunks", len(items), "error", err)
			slow = f.oneByOne(ctx, items)
		default:
			f.Logger.DebugContext(ctx, "forwarder: delivery failed, retrying", "attempt", attempt, "chunks", len(items), "backoff", backoff, "error", err)
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(backoff*2, f.BackoffMax)
			continue
		}
		if slow != nil {
			return slow
		}
		// items are settled, but a probe may have read a record into the
		// batch that it could not deliver: that one is sent afresh.
		attempt, err, backoff = 0, nil, f.BackoffMin
	}
}

// bisect finds the chunks of items that recordings refuses with
// InvalidArgument for the whole call (recordings without per-chunk
// results) by halving: about 2·log2(n) calls for one bad chunk instead of
// n. A half that fails transiently goes one chunk at a time.
func (f *Forwarder) bisect(ctx context.Context, items []*item) error {
	if len(items) == 1 {
		return f.oneByOne(ctx, items)
	}
	mid := len(items) / 2
	for _, half := range [][]*item{items[:mid], items[mid:]} {
		half = pending(half)
		if len(half) == 0 {
			continue
		}
		outcomes, err := f.send(ctx, half, 1, &f.buf)
		switch {
		case err == nil:
			if err := f.settle(ctx, half, outcomes); err != nil {
				return err
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		}
		f.failed(ctx, half, err)
		if status.Code(err) == grpccodes.InvalidArgument {
			err = f.bisect(ctx, half)
		} else {
			err = f.oneByOne(ctx, half)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pending leaves out the items already settled (by a probe).
func pending(items []*item) []*item {
	out := items[:0:0]
	for _, it := range items {
		if !it.done {
			out = append(out, it)
		}
	}
	return out
}

// oneByOne sends items (of the oldest batch) one per call, in order.
func (f *Forwarder) oneByOne(ctx context.Context, items []*item) error {
	for _, it := range items {
		if it.done {
			continue // settled as a probe
		}
		backoff := f.BackoffMin
		for attempt := 1; ; attempt++ {
			outcomes, err := f.send(ctx, []*item{it}, attempt, &f.buf)
			if err == nil {
				if err := f.settle(ctx, []*item{it}, outcomes); err != nil {
					return err
				}
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.failed(ctx, []*item{it}, err)
			if status.Code(err) == grpccodes.InvalidArgument {
				if err := f.quarantine(ctx, it, ReasonInvalidArgument, grpcMessage(err)); err != nil {
					return err
				}
				break
			}
			if it.attempts >= f.MaxAttempts {
				settled, err := f.probe(ctx, it)
				if err != nil {
					return err
				}
				if settled {
					break
				}
			}
			f.Logger.DebugContext(ctx, "forwarder: chunk delivery failed, retrying", "attempt", it.attempts, "backoff", backoff, "error", err)
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(backoff*2, f.BackoffMax)
		}
	}
	return nil
}

// probe sends the first unsettled chunk after it in the window (reading
// one more record from the spool into the last batch if there is none) to
// tell a chunk that fails from a recordings that fails. When every chunk
// read after it is delivered already and the spool has no more — with
// several calls in flight, the later batches were stored while its batch
// failed, and the spool may stay empty for long — one of those is sent
// again instead (recordings de-duplicates: it answers for it as stored).
// If recordings answers the probe, it is sent once more — recordings may
// just have come back — and dead-lettered if that fails too; probe then
// reports true (it is settled).
func (f *Forwarder) probe(ctx context.Context, it *item) (bool, error) {
	next := f.after(it, unsettled)
	if next == nil {
		// Whatever has arrived since, without waiting for more.
		rctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		recs, err := f.Spool.Read(rctx, 1, 1)
		cancel()
		if err != nil && ctx.Err() != nil {
			return false, ctx.Err()
		}
		if len(recs) > 0 {
			// The last batch read is acknowledged last: the record is
			// acknowledged after every one before it.
			if err := f.add(ctx, f.window[len(f.window)-1], recs); err != nil {
				return false, err
			}
		}
		next = f.after(it, unsettled)
	}
	again := false
	if next == nil {
		if next = f.after(it, wasDelivered); next == nil {
			return false, nil // nothing to prove recordings works with yet
		}
		again = true
	}
	outcomes, err := f.send(ctx, []*item{next}, 1, &f.buf)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		f.failed(ctx, []*item{next}, err)
		return false, nil // recordings fails both: keep waiting
	}
	if again {
		f.Recordings().OK(ctx) // counted as delivered the first time
	} else if err := f.settle(ctx, []*item{next}, outcomes); err != nil {
		return false, err
	}
	outcomes, err = f.send(ctx, []*item{it}, it.attempts+1, &f.buf)
	switch {
	case err == nil:
		return true, f.settle(ctx, []*item{it}, outcomes)
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	f.failed(ctx, []*item{it}, err)
	if status.Code(err) == grpccodes.InvalidArgument {
		return true, f.quarantine(ctx, it, ReasonInvalidArgument, grpcMessage(err))
	}
	detail := fmt.Sprintf("failed %d times, the last after recordings accepted the next chunk: %v", it.attempts, grpcMessage(err))
	return true, f.quarantine(ctx, it, ReasonAttemptsExceeded, detail)
}

// after returns the first item after it in the window (its batch, then
// the later ones) that want accepts, or nil.
func (f *Forwarder) after(it *item, want func(*item) bool) *item {
	seen := false
	for _, b := range f.window {
		for _, x := range b.items {
			switch {
			case x == it:
				seen = true
			case seen && want(x):
				return x
			}
		}
	}
	return nil
}

func unsettled(x *item) bool    { return !x.done }
func wasDelivered(x *item) bool { return x.delivered }

// grpcMessage is the status message of a (wrapped) gRPC error.
func grpcMessage(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Message()
	}
	return err.Error()
}

// settle counts the delivered chunks and dead-letters the refused ones.
func (f *Forwarder) settle(ctx context.Context, items []*item, outcomes []outcome) error {
	f.Recordings().OK(ctx) // it answered for every chunk
	delivered := 0
	for i, it := range items {
		it.done = true
		if outcomes[i].refused {
			if err := f.quarantine(ctx, it, ReasonRefused, outcomes[i].reason); err != nil {
				return err
			}
			continue
		}
		it.delivered = true
		delivered++
	}
	if delivered == 0 {
		return nil
	}
	f.mu.Lock()
	f.stats.Delivered += int64(delivered)
	f.stats.LastDelivery = time.Now()
	f.mu.Unlock()
	if f.OnDelivered != nil {
		f.OnDelivered(delivered)
	}
	return nil
}

// failed counts a failed call. InvalidArgument is recordings answering
// (refusing a request for good); any other error counts against its state.
func (f *Forwarder) failed(ctx context.Context, items []*item, err error) {
	if status.Code(err) == grpccodes.InvalidArgument {
		f.Recordings().OK(ctx)
	} else {
		f.Recordings().Failed(ctx, err)
	}
	for _, it := range items {
		it.attempts++
	}
	f.mu.Lock()
	f.stats.Failures++
	f.stats.LastError = err.Error()
	f.mu.Unlock()
	if f.OnFailure != nil {
		f.OnFailure(err)
	}
}

// quarantine moves it into the spool's dead-letter area, retrying a
// failing disk until ctx ends: the record is acknowledged only after.
func (f *Forwarder) quarantine(ctx context.Context, it *item, reason, detail string) error {
	var c recordingsv1.Chunk // decoded only to say which chunk
	_ = proto.Unmarshal(it.rec.Payload, &c)
	ctx, span := f.Tracer.Start(ctx, "ingest.forward dead-letter", trace.WithAttributes(
		attribute.String("ingest.dead_letter.reason", reason), attribute.Int64("sightline.site_id", c.GetSiteId()),
		attribute.String("sightline.session_id", c.GetSessionId()), attribute.Int64("sightline.seq", c.GetSeq())))
	defer span.End()
	d := spool.DeadLetter{Reason: reason, Detail: detail, Attempts: it.attempts + 1,
		SiteID: c.GetSiteId(), SessionID: c.GetSessionId(), Seq: c.GetSeq()}
	backoff := f.BackoffMin
	for {
		saved, err := f.Spool.Quarantine(it.rec, d)
		if err == nil {
			f.Logger.ErrorContext(ctx, "forwarder: chunk moved to the dead-letter area", "dead_letter_id", saved.ID, "reason", reason,
				"detail", detail, "site_id", c.GetSiteId(), "session_id", c.GetSessionId(), "seq", c.GetSeq(), "attempts", d.Attempts)
			break
		}
		span.RecordError(err)
		f.Logger.ErrorContext(ctx, "forwarder: cannot write a dead letter; retrying", "error", err)
		if err := sleep(ctx, backoff); err != nil {
			span.SetStatus(codes.Error, "not quarantined")
			return err
		}
		backoff = min(backoff*2, f.BackoffMax)
	}
	it.done = true
	f.mu.Lock()
	f.stats.DeadLettered++
	f.stats.LastDeadLetter = time.Now()
	f.mu.Unlock()
	if f.OnDeadLetter != nil {
		f.OnDeadLetter(reason)
	}
	return nil
}

// sleep waits about d (full jitter: uniformly in [d/2, d]) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var traceContext = propagation.TraceContext{}

var (
	chunkTraceparent = (&recordingsv1.Chunk{}).ProtoReflect().Descriptor().Fields().ByName("traceparent").Number()
	requestChunks    = (&recordingsv1.AppendChunksRequest{}).ProtoReflect().Descriptor().Fields().ByName("chunks").Number()
)

// scanChunk checks that b is a well-formed message at its top level and
// returns its traceparent.
func scanChunk(b []byte) (string, error) {
	var tp string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", fmt.Errorf("forwarder: chunk: %w", protowire.ParseError(n))
		}
		if num == chunkTraceparent && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 {
				return "", fmt.Errorf("forwarder: chunk traceparent: %w", protowire.ParseError(m))
			}
			tp = string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", fmt.Errorf("forwarder: chunk field %d: %w", num, protowire.ParseError(m))
		}
		b = b[n+m:]
	}
	return tp, nil
}

// request assembles AppendChunksRequest from the encoded chunks: they go
// in as the request's unknown fields, which the encoder writes out as they
// are — the same bytes as a repeated chunks field, without decoding each
// chunk and encoding it again. *buf is reused between calls (one buffer
// per call in flight).
func request(items []*item, buf *[]byte) *recordingsv1.AppendChunksRequest {
	n := 0
	for _, it := range items {
		n += protowire.SizeTag(requestChunks) + protowire.SizeBytes(len(it.rec.Payload))
	}
	if cap(*buf) < n || cap(*buf) > 4*n+64<<10 {
		*buf = make([]byte, 0, n)
	}
	b := (*buf)[:0]
	for _, it := range items {
		b = protowire.AppendTag(b, requestChunks, protowire.BytesType)
		b = protowire.AppendBytes(b, it.rec.Payload)
	}
	req := &recordingsv1.AppendChunksRequest{}
	req.ProtoReflect().SetUnknown(b)
	return req
}

// outcome is recordings' verdict on one chunk that it accounted for.
type outcome struct {
	refused bool
	reason  string
}

// send makes one AppendChunks call. It returns one outcome per item, or an
// error when the call failed or its answer does not account for every
// chunk sent. buf is the request's buffer.
func (f *Forwarder) send(ctx context.Context, items []*item, attempt int, buf *[]byte) ([]outcome, error) {
	links := make([]trace.Link, 0, len(items))
	for _, it := range items {
		if it.traceparent == "" {
			continue
		}
		sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": it.traceparent}))
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := f.Tracer.Start(ctx, "ingest.forward AppendChunks", trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("ingest.chunks", len(items)), attribute.Int("ingest.attempt", attempt)))
	defer span.End()
	cctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	resp, err := f.Client.AppendChunks(cctx, request(items, buf))
	var outcomes []outcome
	if err == nil {
		outcomes, err = account(resp, len(items))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("forwarder: append chunks: timeout: %w", err)
		}
		return nil, fmt.Errorf("forwarder: append chunks: %w", err)
	}
	refused := 0
	for _, o := range outcomes {
		if o.refused {
			refused++
		}
	}
	span.SetAttributes(attribute.Int("ingest.refused", refused))
	return outcomes, nil
}

// account reads recordings' answer for n chunks. With per-chunk results
// (one per chunk, in order) each says stored, duplicate or refused. An
// older recordings answers only counts: all stored or duplicate is a
// delivery, and a lone chunk counted refused is refused. Anything else
// accounts for fewer chunks than were sent (say, a transport that copies
// messages without encoding them would not carry the pre-encoded field):
// an error, so the chunks stay in the spool and are sent again rather
// than lost.
func account(resp *recordingsv1.AppendChunksResponse, n int) ([]outcome, error) {
	out := make([]outcome, n)
	if rs := resp.GetResults(); len(rs) > 0 {
		if len(rs) != n {
			return nil, fmt.Errorf("recordings answered %d results for %d chunks", len(rs), n)
		}
		for i, r := range rs {
			switch r.GetOutcome() {
			case recordingsv1.ChunkOutcome_CHUNK_OUTCOME_STORED, recordingsv1.ChunkOutcome_CHUNK_OUTCOME_DUPLICATE:
			case recordingsv1.ChunkOutcome_CHUNK_OUTCOME_REFUSED:
				out[i] = outcome{refused: true, reason: r.GetReason()}
			default:
				return nil, fmt.Errorf("recordings answered outcome %v for chunk %d", r.GetOutcome(), i)
			}
		}
		return out, nil
	}
	stored, dup, refused := int(resp.GetStored()), int(resp.GetDuplicates()), int(resp.GetRefused())
	switch {
	case stored+dup == n:
		return out, nil
	case n == 1 && refused == 1:
		out[0] = outcome{refused: true, reason: "refused (no reason given)"}
		return out, nil
	}
	return nil, fmt.Errorf("recordings accounted for %d stored + %d duplicate + %d refused chunks of %d sent", stored, dup, refused, n)
}
