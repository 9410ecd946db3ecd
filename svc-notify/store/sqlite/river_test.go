package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/sightlinehq/sightline/svc-notify/store"
	"github.com/sightlinehq/sightline/svc-notify/store/sqlite"
)

type fanArgs struct {
	N int `json:"n"`
}

func (fanArgs) Kind() string { return "storetest_fan" }

type leafArgs struct {
	Key string `json:"key"`
}

func (leafArgs) Kind() string { return "storetest_leaf" }

// fanWorker does what notify's workers do: in one store transaction, claim,
// write a delivery, insert follow-up jobs (InsertTx on Raw) and complete
// itself (JobCompleteTx).
type fanWorker struct {
	river.WorkerDefaults[fanArgs]
	st     *sqlite.Store
	client func() *river.Client[*sql.Tx]
	hook   store.Webhook
}

func (w *fanWorker) Work(ctx context.Context, job *river.Job[fanArgs]) error {
	return w.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		raw := tx.Raw().(*sql.Tx)
		for i := range job.Args.N {
			key := fmt.Sprintf("%d-%d", job.ID, i)
			if ok, err := tx.ClaimEvent(ctx, key); err != nil || !ok {
				return fmt.Errorf("claim %s: %v %v", key, ok, err)
			}
			if _, _, err := tx.CreateDelivery(ctx, store.Delivery{WebhookID: w.hook.ID, SiteID: w.hook.SiteID, Key: key,
				MessageID: key, EventType: "session.ended", Payload: []byte("{}")}); err != nil {
				return err
			}
			if _, err := w.client().InsertTx(ctx, raw, leafArgs{Key: key}, nil); err != nil {
				return err
			}
		}
		_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, raw, job)
		return err
	})
}

type leafWorker struct {
	river.WorkerDefaults[leafArgs]
	st   *sqlite.Store
	hook store.Webhook
}

func (w *leafWorker) Work(ctx context.Context, job *river.Job[leafArgs]) error {
	// Outside a transaction: a pool call between River's own.
	ds, err := w.st.ListDeliveries(ctx, w.hook.SiteID, w.hook.ID, store.Page{Limit: 1})
	if err == nil && len(ds) == 0 {
		err = fmt.Errorf("no delivery before leaf %s", job.Args.Key)
	}
	return err
}

// TestRiverOnTheSameDatabase runs a real River client on Handle() with
// workers writing through the store while other goroutines write too: every
// job completes at its first attempt, no "database is locked".
func TestRiverOnTheSameDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "notify.db"), sqlite.Telemetry{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.Handle().(*sql.DB)
	drv := riversqlite.New(db)
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	hook, err := st.CreateWebhook(ctx, store.Webhook{SiteID: 1, URL: "https://example.com", Events: []string{"session.ended"}, Enabled: true, Secret: "s"}, 10)
	if err != nil {
		t.Fatal(err)
	}

	var client *river.Client[*sql.Tx]
	workers := river.NewWorkers()
	river.AddWorker(workers, &fanWorker{st: st, client: func() *river.Client[*sql.Tx] { return client }, hook: hook})
	river.AddWorker(workers, &leafWorker{st: st, hook: hook})
	client, err = river.NewClient(drv, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 8}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, stopSub := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer stopSub()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := client.Stop(stopCtx); err != nil {
			t.Error(err)
		}
	}()

	const fans, each = 20, 5
	for range fans {
		if _, err := client.Insert(ctx, fanArgs{N: each}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Meanwhile, store writers outside River.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					_, err := tx.ClaimDigest(ctx, int64(g), 1, fmt.Sprintf("daily:%d", i))
					return err
				})
				if err == nil {
					_, err = st.SetDigestSubscription(ctx, store.DigestSubscription{UserID: int64(g), SiteID: 1, Frequency: store.FrequencyDaily})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	want := fans + fans*each
	for done := 0; done < want; {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %s %d failed: %+v", ev.Job.Kind, ev.Job.ID, ev.Job.Errors)
			}
			if ev.Job.Attempt != 1 {
				t.Fatalf("job %s %d completed at attempt %d: %+v", ev.Job.Kind, ev.Job.ID, ev.Job.Attempt, ev.Job.Errors)
			}
			done++
		case <-ctx.Done():
			t.Fatalf("%d of %d jobs completed", done, want)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("store writer beside River: %v", err)
	}
	ds, err := st.ListDeliveries(ctx, 1, hook.ID, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != fans*each {
		t.Fatalf("%d deliveries, want %d", len(ds), fans*each)
	}
}
