// Package storetest is the conformance suite every notify store.Store
// backend passes: Run(t, newStore). newStore must return an empty, migrated
// store whose generated ids start above 2^31 (the suite checks).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sightlinehq/sightline/svc-notify/store"
)

// IDFloor is where newStore must start generated ids.
const IDFloor = int64(1) << 31

// Site and user ids above 2^31 too: they come from accounts.
const (
	siteA = int64(5_000_000_001)
	siteB = int64(5_000_000_002)
	userA = int64(7_000_000_001)
	userB = int64(7_000_000_002)
)

// Run runs the suite; it logs how many checks passed.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	c := &checker{}
	tests := []struct {
		name string
		fn   func(t *testing.T, c *checker, s store.Store)
	}{
		{"Webhooks", testWebhooks},
		{"WebhookTimes", testWebhookTimes},
		{"WebhookLimitConcurrent", testWebhookLimitConcurrent},
		{"SubscribedWebhooks", testSubscribedWebhooks},
		{"Deliveries", testDeliveries},
		{"RecordAttempt", testRecordAttempt},
		{"DeliveryPaging", testDeliveryPaging},
		{"FailPendingDeliveries", testFailPending},
		{"DeleteWebhook", testDeleteWebhook},
		{"AlertRules", testAlertRules},
		{"AlertRuleLimitConcurrent", testAlertRuleLimitConcurrent},
		{"EnabledAlertRules", testEnabledAlertRules},
		{"Alerts", testAlerts},
		{"AlertPaging", testAlertPaging},
		{"DigestSubscriptions", testDigestSubscriptions},
		{"Claims", testClaims},
		{"ClaimDigestConcurrent", testClaimDigestConcurrent},
		{"IdempotentConcurrent", testIdempotentConcurrent},
		{"ConcurrentTx", testConcurrentTx},
		{"RollBack", testRollBack},
		{"DeleteSite", testDeleteSite},
		{"DeleteUserSite", testDeleteUserSite},
		{"Prune", testPrune},
		{"Handle", testHandle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, c, s)
		})
	}
	t.Logf("storetest: %d checks in %d tests", c.n.Load(), len(tests))
}

// checker counts the checks made, for the suite's report.
type checker struct{ n atomic.Int64 }

func (c *checker) ok(t *testing.T, err error, what string) {
	t.Helper()
	c.n.Add(1)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (c *checker) is(t *testing.T, err, target error, what string) {
	t.Helper()
	c.n.Add(1)
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func (c *checker) fails(t *testing.T, err error, what string) {
	t.Helper()
	c.n.Add(1)
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
}

func (c *checker) eq(t *testing.T, got, want any, what string) {
	t.Helper()
	c.n.Add(1)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// together runs fn(0) … fn(n-1) in n goroutines released at once and
// waits for them all.
func together(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// racingCreates runs n creates at once under a limit of max: exactly max
// pass, every other one fails with ErrLimit.
func (c *checker) racingCreates(t *testing.T, n, max int, create func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	together(n, func(i int) { errs[i] = create(i) })
	created := 0
	for _, err := range errs {
		if err == nil {
			created++
		} else {
			c.is(t, err, store.ErrLimit, "a concurrent create over the limit")
		}
	}
	c.eq(t, created, max, "concurrent creates that passed the limit")
}

func (c *checker) true(t *testing.T, cond bool, format string, args ...any) {
	t.Helper()
	c.n.Add(1)
	if !cond {
		t.Fatalf(format, args...)
	}
}

// id checks a generated id is above 2^31.
func (c *checker) id(t *testing.T, id int64, what string) {
	t.Helper()
	c.true(t, id > IDFloor, "%s id %d not above 2^31 (newStore must start ids there)", what, id)
}

// recent checks a store-assigned time is now-ish, in UTC.
func (c *checker) recent(t *testing.T, at time.Time, what string) {
	t.Helper()
	c.true(t, at.Location() == time.UTC, "%s %v not in UTC", what, at)
	c.true(t, time.Since(at).Abs() < time.Minute, "%s %v not now", what, at)
}

// sameTime checks got is want to the millisecond, in UTC.
func (c *checker) sameTime(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	c.true(t, got.IsZero() == want.IsZero(), "%s: got %v, want %v", what, got, want)
	if want.IsZero() {
		return
	}
	c.true(t, got.Location() == time.UTC, "%s %v not in UTC", what, got)
	c.true(t, got.Sub(want).Abs() < time.Millisecond, "%s: got %v, want %v (ms precision)", what, got, want)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A time with sub-microsecond digits in a zone other than UTC: backends
// must return it in UTC to (at least) the millisecond.
var odd = time.Date(2026, 11, 29, 23, 30, 15, 123_456_789, time.FixedZone("X", 5*3600+1800))

func hook(site int64, url string) store.Webhook {
	return store.Webhook{SiteID: site, URL: url, Events: []string{"session.ended"}, Enabled: true, Secret: "whsec_" + url}
}

func mkHook(t *testing.T, c *checker, s store.Store, w store.Webhook) store.Webhook {
	t.Helper()
	out, err := s.CreateWebhook(ctxT(t), w, 100)
	c.ok(t, err, "CreateWebhook")
	return out
}

// inTx runs fn in a transaction, failing the test on error.
// scopedGet checks get answers want for id on site A, and ErrNotFound for
// it through site B and for a missing id; what names the call.
func scopedGet[T any](t *testing.T, c *checker, what string, want T, id int64, get func(site, id int64) (T, error)) {
	t.Helper()
	got, err := get(siteA, id)
	c.ok(t, err, what)
	c.eq(t, got, want, what+" returns what was stored")
	_, err = get(siteB, id)
	c.is(t, err, store.ErrNotFound, what+" of another site")
	_, err = get(siteA, id+1_000_000)
	c.is(t, err, store.ErrNotFound, what+" missing")
}

func inTx(t *testing.T, c *checker, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	c.ok(t, s.InTx(ctxT(t), fn), "InTx")
}

func delivery(w store.Webhook, key string) store.Delivery {
	return store.Delivery{WebhookID: w.ID, SiteID: w.SiteID, Key: key, MessageID: "msg_" + key, EventType: "session.ended",
		Payload: []byte(`{"type":"session.ended","key":"` + key + `"}`)}
}

func mkDelivery(t *testing.T, c *checker, s store.Store, w store.Webhook, key string) store.Delivery {
	t.Helper()
	return created(t, c, s, "CreateDelivery "+key, func(ctx context.Context, tx store.Tx) (store.Delivery, bool, error) {
		return tx.CreateDelivery(ctx, delivery(w, key))
	})
}

// created runs create in a transaction and checks it made a new row; what
// names the call.
func created[T any](t *testing.T, c *checker, s store.Store, what string, create func(ctx context.Context, tx store.Tx) (T, bool, error)) T {
	t.Helper()
	var row T
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		var made bool
		var err error
		row, made, err = create(ctx, tx)
		c.ok(t, err, what)
		c.true(t, made, "%s did not create", what)
		return nil
	})
	return row
}

func testWebhooks(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	in := store.Webhook{SiteID: siteA, URL: "https://example.com/hook", Events: []string{"survey.response.created", "feedback.created", "session.ended", "feedback.created"},
		Description: "ops", Enabled: true, Secret: "whsec_abc"}
	w, err := s.CreateWebhook(ctx, in, 2)
	c.ok(t, err, "CreateWebhook")
	c.id(t, w.ID, "webhook")
	c.eq(t, w.SiteID, siteA, "SiteID")
	c.eq(t, w.Events, []string{"feedback.created", "session.ended", "survey.response.created"}, "Events sorted, unique")
	c.eq(t, []any{w.URL, w.Description, w.Enabled, w.Secret, w.DisabledReason, w.PreviousSecret, w.ConsecutiveFailures},
		[]any{in.URL, in.Description, true, in.Secret, "", "", int32(0)}, "fields")
	c.recent(t, w.CreateTime, "CreateTime")
	c.eq(t, w.UpdateTime, w.CreateTime, "UpdateTime at creation")
	c.true(t, w.PreviousSecretExpire.IsZero() && w.FailingSince.IsZero(), "unset times not zero: %+v", w)
	c.true(t, w.Subscribes("feedback.created") && !w.Subscribes("site.no_data"), "Subscribes")

	scopedGet(t, c, "GetWebhook", w, w.ID, func(site, id int64) (store.Webhook, error) { return s.GetWebhook(ctx, site, id) })

	w2, err := s.CreateWebhook(ctx, hook(siteA, "https://example.com/2"), 2)
	c.ok(t, err, "second webhook")
	_, err = s.CreateWebhook(ctx, hook(siteA, "https://example.com/3"), 2)
	c.is(t, err, store.ErrLimit, "third webhook at limit 2")
	wb, err := s.CreateWebhook(ctx, hook(siteB, "https://example.com/b"), 2)
	c.ok(t, err, "the limit is per site")

	list, err := s.ListWebhooks(ctx, siteA)
	c.ok(t, err, "ListWebhooks")
	c.eq(t, ids(list), []int64{w.ID, w2.ID}, "ListWebhooks by id, site scoped")
	list, err = s.ListWebhooks(ctx, siteB)
	c.ok(t, err, "ListWebhooks B")
	c.eq(t, ids(list), []int64{wb.ID}, "ListWebhooks of site B")
	list, err = s.ListWebhooks(ctx, 42)
	c.ok(t, err, "ListWebhooks of a site without any")
	c.eq(t, len(list), 0, "no webhooks")

	// Update replaces every mutable field; the id, site and creation stay.
	time.Sleep(2 * time.Millisecond) // the clock moves on, so the update time must too
	up := w
	up.URL, up.Events, up.Description, up.Enabled, up.DisabledReason = "https://example.org/new", []string{"site.no_data"}, "new", false, "failing"
	up.Secret, up.PreviousSecret, up.PreviousSecretExpire = "whsec_new", "whsec_abc", odd
	up.ConsecutiveFailures, up.FailingSince = 7, odd.Add(-time.Hour)
	up.CreateTime = time.Time{} // ignored
	u, err := s.UpdateWebhook(ctx, up)
	c.ok(t, err, "UpdateWebhook")
	c.eq(t, []any{u.ID, u.SiteID, u.URL, u.Events, u.Description, u.Enabled, u.DisabledReason, u.Secret, u.PreviousSecret, u.ConsecutiveFailures},
		[]any{w.ID, siteA, up.URL, up.Events, up.Description, false, "failing", "whsec_new", "whsec_abc", int32(7)}, "updated fields")
	c.sameTime(t, u.PreviousSecretExpire, odd, "PreviousSecretExpire")
	c.sameTime(t, u.FailingSince, odd.Add(-time.Hour), "FailingSince")
	c.eq(t, u.CreateTime, w.CreateTime, "CreateTime unchanged")
	c.true(t, u.UpdateTime.After(w.UpdateTime), "UpdateTime %v not after %v", u.UpdateTime, w.UpdateTime)
	got, err := s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "GetWebhook after update")
	c.eq(t, got, u, "GetWebhook returns what UpdateWebhook did")

	// Clearing the failure fields stores NULLs again.
	up = u
	up.ConsecutiveFailures, up.FailingSince, up.PreviousSecret, up.PreviousSecretExpire, up.Enabled, up.DisabledReason = 0, time.Time{}, "", time.Time{}, true, ""
	u, err = s.UpdateWebhook(ctx, up)
	c.ok(t, err, "UpdateWebhook clearing")
	c.true(t, u.FailingSince.IsZero() && u.PreviousSecretExpire.IsZero() && u.Enabled && u.ConsecutiveFailures == 0, "cleared: %+v", u)

	other := u
	other.SiteID = siteB
	other.URL = "https://evil.example/"
	_, err = s.UpdateWebhook(ctx, other)
	c.is(t, err, store.ErrNotFound, "UpdateWebhook of another site's id")
	got, err = s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "GetWebhook")
	c.eq(t, got.URL, u.URL, "another site's update changed nothing")
	missing := u
	missing.ID += 1_000_000
	_, err = s.UpdateWebhook(ctx, missing)
	c.is(t, err, store.ErrNotFound, "UpdateWebhook missing")

	c.is(t, s.DeleteWebhook(ctx, siteB, w.ID), store.ErrNotFound, "DeleteWebhook of another site")
	c.ok(t, s.DeleteWebhook(ctx, siteA, w.ID), "DeleteWebhook")
	_, err = s.GetWebhook(ctx, siteA, w.ID)
	c.is(t, err, store.ErrNotFound, "GetWebhook after delete")
	c.is(t, s.DeleteWebhook(ctx, siteA, w.ID), store.ErrNotFound, "DeleteWebhook twice")
	w3, err := s.CreateWebhook(ctx, hook(siteA, "https://example.com/3"), 2)
	c.ok(t, err, "a deleted webhook frees its place under the limit")
	c.true(t, w3.ID > w2.ID, "ids only grow: %d after %d", w3.ID, w2.ID)
}

// ids lists the ID fields of webhooks, deliveries, rules or alerts.
func ids[T any](xs []T) []int64 {
	out := []int64{}
	for _, x := range xs {
		out = append(out, reflect.ValueOf(x).FieldByName("ID").Int())
	}
	return out
}

func testWebhookTimes(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	in := hook(siteA, "https://example.com/t")
	in.PreviousSecret, in.PreviousSecretExpire, in.FailingSince, in.ConsecutiveFailures = "old", odd, odd.Add(time.Minute), 3
	w, err := s.CreateWebhook(ctx, in, 1)
	c.ok(t, err, "CreateWebhook with times")
	c.sameTime(t, w.PreviousSecretExpire, odd, "PreviousSecretExpire")
	c.sameTime(t, w.FailingSince, odd.Add(time.Minute), "FailingSince")
	c.eq(t, w.ConsecutiveFailures, int32(3), "ConsecutiveFailures")
	got, err := s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "GetWebhook")
	c.eq(t, got, w, "times read back exactly as returned")
	c.true(t, got.CreateTime.Equal(got.CreateTime.Truncate(time.Microsecond)), "CreateTime %v finer than stored", got.CreateTime)
}

func testWebhookLimitConcurrent(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	const max = 3
	c.racingCreates(t, 8, max, func(i int) error {
		_, err := s.CreateWebhook(ctx, hook(siteA, fmt.Sprintf("https://example.com/%d", i)), max)
		return err
	})
	list, err := s.ListWebhooks(ctx, siteA)
	c.ok(t, err, "ListWebhooks")
	c.eq(t, len(list), max, "webhooks stored")
}

func testSubscribedWebhooks(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	a := hook(siteA, "https://example.com/a")
	a.Events = []string{"feedback.created", "session.ended"}
	wa := mkHook(t, c, s, a)
	b := hook(siteA, "https://example.com/b")
	b.Events = []string{"feedback.created"}
	wb := mkHook(t, c, s, b)
	off := hook(siteA, "https://example.com/off")
	off.Events, off.Enabled, off.DisabledReason = []string{"session.ended", "feedback.created"}, false, "failing"
	mkHook(t, c, s, off)
	mkHook(t, c, s, hook(siteB, "https://example.com/other-site"))

	got, err := s.ListSubscribedWebhooks(ctx, siteA, "session.ended")
	c.ok(t, err, "ListSubscribedWebhooks")
	c.eq(t, ids(got), []int64{wa.ID}, "enabled webhooks of the site taking session.ended")
	got, err = s.ListSubscribedWebhooks(ctx, siteA, "feedback.created")
	c.ok(t, err, "ListSubscribedWebhooks")
	c.eq(t, ids(got), []int64{wa.ID, wb.ID}, "enabled webhooks taking feedback.created, by id")
	got, err = s.ListSubscribedWebhooks(ctx, siteA, "site.no_data")
	c.ok(t, err, "ListSubscribedWebhooks")
	c.eq(t, len(got), 0, "nobody takes site.no_data")
	got, err = s.ListSubscribedWebhooks(ctx, siteA, "session")
	c.ok(t, err, "ListSubscribedWebhooks prefix")
	c.eq(t, len(got), 0, "an event type matches whole, not as a prefix")

	sites, err := s.ListWebhookSites(ctx, "session.ended", 0, 10)
	c.ok(t, err, "ListWebhookSites")
	c.eq(t, sites, []int64{siteA, siteB}, "sites with an enabled webhook taking session.ended, ascending, each once")
	sites, err = s.ListWebhookSites(ctx, "feedback.created", 0, 10)
	c.ok(t, err, "ListWebhookSites")
	c.eq(t, sites, []int64{siteA}, "a site with two such webhooks once; siteB's takes none")
	sites, err = s.ListWebhookSites(ctx, "feedback.created", siteA, 10)
	c.ok(t, err, "ListWebhookSites after")
	c.eq(t, len(sites), 0, "none after the last site")
	nd := hook(siteB, "https://example.com/nodata")
	nd.Events = []string{"site.no_data"}
	mkHook(t, c, s, nd)
	nd2 := hook(siteA, "https://example.com/nodata")
	nd2.Events = []string{"site.no_data", "session.ended"}
	mkHook(t, c, s, nd2)
	sites, err = s.ListWebhookSites(ctx, "site.no_data", 0, 1)
	c.ok(t, err, "ListWebhookSites limit")
	c.eq(t, sites, []int64{min(siteA, siteB)}, "limit 1: the lowest site id")
	sites, err = s.ListWebhookSites(ctx, "site.no_data", 0, 10)
	c.ok(t, err, "ListWebhookSites")
	c.eq(t, len(sites), 2, "both sites take site.no_data")
	sites, err = s.ListWebhookSites(ctx, "site", 0, 10)
	c.ok(t, err, "ListWebhookSites prefix")
	c.eq(t, len(sites), 0, "an event type matches whole")
}

func testDeliveries(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/d"))
	w2 := mkHook(t, c, s, hook(siteA, "https://example.com/d2"))
	wb := mkHook(t, c, s, hook(siteB, "https://example.com/b"))

	in := delivery(w, "evt_1")
	in.NextAttemptTime = odd
	d := created(t, c, s, "first CreateDelivery", func(ctx context.Context, tx store.Tx) (store.Delivery, bool, error) {
		return tx.CreateDelivery(ctx, in)
	})
	c.id(t, d.ID, "delivery")
	c.eq(t, []any{d.WebhookID, d.SiteID, d.Key, d.MessageID, d.EventType, d.State, d.Attempts, d.LastStatusCode, d.LastError, d.LastResponse, d.LastDuration},
		[]any{w.ID, siteA, "evt_1", "msg_evt_1", "session.ended", store.DeliveryPending, int32(0), int32(0), "", "", time.Duration(0)}, "new delivery")
	c.true(t, bytes.Equal(d.Payload, in.Payload), "payload %q", d.Payload)
	c.recent(t, d.CreateTime, "CreateTime")
	c.true(t, d.LastAttemptTime.IsZero(), "LastAttemptTime set on a new delivery")
	c.sameTime(t, d.NextAttemptTime, odd, "NextAttemptTime")

	// Same key: the stored one, whatever else differs.
	again := delivery(w, "evt_1")
	again.Payload, again.MessageID = []byte("other"), "msg_other"
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		got, created, err := tx.CreateDelivery(ctx, again)
		c.ok(t, err, "CreateDelivery again")
		c.true(t, !created, "CreateDelivery with a stored key created one")
		c.eq(t, got, d, "CreateDelivery with a stored key returns the stored delivery")
		// The key is per webhook.
		other, created, err := tx.CreateDelivery(ctx, delivery(w2, "evt_1"))
		c.ok(t, err, "same key, other webhook")
		c.true(t, created && other.ID != d.ID, "same key on another webhook not created")
		// Another site's webhook, named with this site: not found.
		x := delivery(wb, "evt_x")
		x.SiteID = siteA
		_, _, err = tx.CreateDelivery(ctx, x)
		c.is(t, err, store.ErrNotFound, "CreateDelivery on another site's webhook")
		x = delivery(store.Webhook{ID: w.ID + 1_000_000, SiteID: siteA}, "evt_y")
		_, _, err = tx.CreateDelivery(ctx, x)
		c.is(t, err, store.ErrNotFound, "CreateDelivery on a missing webhook")
		// No key: never a duplicate.
		n1, c1, err := tx.CreateDelivery(ctx, delivery(w, ""))
		c.ok(t, err, "CreateDelivery without key")
		n2, c2, err := tx.CreateDelivery(ctx, delivery(w, ""))
		c.ok(t, err, "CreateDelivery without key again")
		c.true(t, c1 && c2 && n1.ID != n2.ID, "deliveries without a key are each created")
		_, _, err = tx.CreateDelivery(ctx, delivery(w, strings.Repeat("k", 100_000)))
		c.fails(t, err, "CreateDelivery with a 100 kB key")
		return nil
	})

	scopedGet(t, c, "GetDelivery", d, d.ID, func(site, id int64) (store.Delivery, error) { return s.GetDelivery(ctx, site, id) })
	list, err := s.ListDeliveries(ctx, siteA, w.ID, store.Page{})
	c.ok(t, err, "ListDeliveries")
	c.eq(t, len(list), 3, "deliveries of the webhook (keyed one and two without key)")
	c.eq(t, list[2], d, "oldest last")
}

func testRecordAttempt(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/r"))
	d := mkDelivery(t, c, s, w, "evt_1")
	d2 := mkDelivery(t, c, s, w, "evt_2")

	// A failure: the delivery retries, the webhook starts failing.
	long := strings.Repeat("é", 1000) // 2000 bytes
	a1 := store.Attempt{Time: odd, StatusCode: 500, Error: "HTTP 500", Response: long, Duration: 1500 * time.Millisecond,
		State: store.DeliveryRetrying, NextTime: odd.Add(time.Minute)}
	gd, gw, err := s.RecordAttempt(ctx, siteA, d.ID, a1)
	c.ok(t, err, "RecordAttempt failure")
	c.eq(t, []any{gd.ID, gd.State, gd.Attempts, gd.LastStatusCode, gd.LastError, gd.LastDuration},
		[]any{d.ID, store.DeliveryRetrying, int32(1), int32(500), "HTTP 500", 1500 * time.Millisecond}, "delivery after a failed attempt")
	c.true(t, len(gd.LastResponse) <= 1024 && len(gd.LastResponse) >= 1020 && utf8.ValidString(gd.LastResponse) &&
		strings.HasPrefix(long, gd.LastResponse), "LastResponse not cut to 1 KiB of valid UTF-8: %d bytes", len(gd.LastResponse))
	c.sameTime(t, gd.LastAttemptTime, odd, "LastAttemptTime")
	c.sameTime(t, gd.NextAttemptTime, odd.Add(time.Minute), "NextAttemptTime")
	c.eq(t, gw.ConsecutiveFailures, int32(1), "ConsecutiveFailures after one failure")
	c.sameTime(t, gw.FailingSince, odd, "FailingSince set by the first failure")
	got, err := s.GetDelivery(ctx, siteA, d.ID)
	c.ok(t, err, "GetDelivery")
	c.eq(t, got, gd, "RecordAttempt returns the delivery as stored")
	gotW, err := s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "GetWebhook")
	c.eq(t, gotW, gw, "RecordAttempt returns the webhook as stored")

	// A second failure (final, on another delivery): the count grows,
	// FailingSince stays.
	a2 := store.Attempt{Time: odd.Add(time.Hour), Error: "dial tcp: connection refused", State: store.DeliveryFailed, NextTime: odd.Add(2 * time.Hour)}
	gd, gw, err = s.RecordAttempt(ctx, siteA, d2.ID, a2)
	c.ok(t, err, "RecordAttempt second failure")
	c.eq(t, []any{gd.State, gd.Attempts, gd.LastStatusCode, gd.LastError}, []any{store.DeliveryFailed, int32(1), int32(0), a2.Error}, "failed delivery")
	c.true(t, gd.NextAttemptTime.IsZero(), "a failed delivery keeps a next attempt time %v", gd.NextAttemptTime)
	c.eq(t, gw.ConsecutiveFailures, int32(2), "ConsecutiveFailures after two failures")
	c.sameTime(t, gw.FailingSince, odd, "FailingSince kept from the first failure")

	// Another site cannot record attempts on it.
	_, _, err = s.RecordAttempt(ctx, siteB, d.ID, store.Attempt{Time: odd, StatusCode: 200, State: store.DeliverySucceeded})
	c.is(t, err, store.ErrNotFound, "RecordAttempt from another site")
	_, _, err = s.RecordAttempt(ctx, siteA, d.ID+1_000_000, store.Attempt{Time: odd, StatusCode: 200, State: store.DeliverySucceeded})
	c.is(t, err, store.ErrNotFound, "RecordAttempt on a missing delivery")
	_, _, err = s.RecordAttempt(ctx, siteA, d.ID, store.Attempt{Time: odd, State: store.DeliveryPending})
	c.fails(t, err, "RecordAttempt with state Pending")
	got, err = s.GetDelivery(ctx, siteA, d.ID)
	c.ok(t, err, "GetDelivery")
	c.eq(t, got.Attempts, int32(1), "refused attempts changed nothing")

	// A success resets the webhook's failures.
	a3 := store.Attempt{Time: odd.Add(3 * time.Hour), StatusCode: 204, Duration: 12 * time.Millisecond, State: store.DeliverySucceeded, NextTime: odd.Add(4 * time.Hour)}
	gd, gw, err = s.RecordAttempt(ctx, siteA, d.ID, a3)
	c.ok(t, err, "RecordAttempt success")
	c.eq(t, []any{gd.State, gd.Attempts, gd.LastStatusCode, gd.LastError, gd.LastResponse, gd.LastDuration},
		[]any{store.DeliverySucceeded, int32(2), int32(204), "", "", 12 * time.Millisecond}, "delivered")
	c.true(t, gd.NextAttemptTime.IsZero(), "a delivered delivery keeps a next attempt time")
	c.eq(t, gw.ConsecutiveFailures, int32(0), "ConsecutiveFailures after a success")
	c.true(t, gw.FailingSince.IsZero(), "FailingSince not reset by a success: %v", gw.FailingSince)

	// No time given: now.
	d3 := mkDelivery(t, c, s, w, "evt_3")
	gd, _, err = s.RecordAttempt(ctx, siteA, d3.ID, store.Attempt{StatusCode: 200, State: store.DeliverySucceeded})
	c.ok(t, err, "RecordAttempt without time")
	c.recent(t, gd.LastAttemptTime, "LastAttemptTime defaulted")
}

func testDeliveryPaging(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/p"))
	other := mkHook(t, c, s, hook(siteA, "https://example.com/other"))
	wb := mkHook(t, c, s, hook(siteB, "https://example.com/b"))
	var all []int64 // ascending
	for i := range 25 {
		all = append(all, mkDelivery(t, c, s, w, fmt.Sprintf("evt_%d", i)).ID)
		if i%5 == 0 {
			mkDelivery(t, c, s, other, fmt.Sprintf("evt_%d", i))
			mkDelivery(t, c, s, wb, fmt.Sprintf("evt_%d", i))
		}
	}
	desc := func(xs []int64) []int64 {
		out := make([]int64, len(xs))
		for i, x := range xs {
			out[len(xs)-1-i] = x
		}
		return out
	}
	list := func(p store.Page) []int64 {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, siteA, w.ID, p)
		c.ok(t, err, fmt.Sprintf("ListDeliveries %+v", p))
		return ids(ds)
	}
	c.eq(t, list(store.Page{Limit: 10}), desc(all[15:]), "first page, newest first")
	c.eq(t, list(store.Page{Limit: 10, Before: all[15]}), desc(all[5:15]), "second page (Before)")
	c.eq(t, list(store.Page{Limit: 10, Before: all[5]}), desc(all[:5]), "last page")
	c.eq(t, list(store.Page{Limit: 10, Before: all[0]}), []int64{}, "past the end")
	c.eq(t, list(store.Page{Limit: 10, After: all[4]}), desc(all[5:15]), "previous page (After), still newest first")
	c.eq(t, list(store.Page{Limit: 10, After: all[19]}), desc(all[20:]), "previous page near the top")
	c.eq(t, list(store.Page{After: all[2], Before: all[6]}), desc(all[3:6]), "between After and Before")
	c.eq(t, list(store.Page{}), desc(all), "no limit: the default page holds all 25")
	c.eq(t, list(store.Page{Limit: 1_000_000}), desc(all), "an oversized limit is capped, not an error")
	_, err := s.ListDeliveries(ctx, siteB, w.ID, store.Page{})
	c.is(t, err, store.ErrNotFound, "ListDeliveries of another site's webhook")
	_, err = s.ListDeliveries(ctx, siteA, wb.ID, store.Page{})
	c.is(t, err, store.ErrNotFound, "ListDeliveries naming another site's webhook")
}

func testFailPending(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/f"))
	w2 := mkHook(t, c, s, hook(siteA, "https://example.com/f2"))
	pending := mkDelivery(t, c, s, w, "p")
	retrying := mkDelivery(t, c, s, w, "r")
	done := mkDelivery(t, c, s, w, "d")
	untouched := mkDelivery(t, c, s, w2, "p")
	_, _, err := s.RecordAttempt(ctx, siteA, retrying.ID, store.Attempt{Time: odd, StatusCode: 503, State: store.DeliveryRetrying, NextTime: odd.Add(time.Minute)})
	c.ok(t, err, "RecordAttempt retrying")
	_, _, err = s.RecordAttempt(ctx, siteA, done.ID, store.Attempt{Time: odd, StatusCode: 200, State: store.DeliverySucceeded})
	c.ok(t, err, "RecordAttempt succeeded")

	_, err = s.FailPendingDeliveries(ctx, siteB, w.ID, "webhook disabled")
	c.is(t, err, store.ErrNotFound, "FailPendingDeliveries from another site")
	n, err := s.FailPendingDeliveries(ctx, siteA, w.ID, "webhook disabled")
	c.ok(t, err, "FailPendingDeliveries")
	c.eq(t, n, int64(2), "pending and retrying deliveries failed")
	for _, id := range []int64{pending.ID, retrying.ID} {
		d, err := s.GetDelivery(ctx, siteA, id)
		c.ok(t, err, "GetDelivery")
		c.eq(t, []any{d.State, d.LastError}, []any{store.DeliveryFailed, "webhook disabled"}, "failed with the reason")
		c.true(t, d.NextAttemptTime.IsZero(), "a failed delivery keeps a next attempt time")
	}
	d, err := s.GetDelivery(ctx, siteA, done.ID)
	c.ok(t, err, "GetDelivery")
	c.eq(t, d.State, store.DeliverySucceeded, "a succeeded delivery stays succeeded")
	d, err = s.GetDelivery(ctx, siteA, untouched.ID)
	c.ok(t, err, "GetDelivery")
	c.eq(t, d.State, store.DeliveryPending, "another webhook's delivery stays pending")
	n, err = s.FailPendingDeliveries(ctx, siteA, w.ID, "again")
	c.ok(t, err, "FailPendingDeliveries again")
	c.eq(t, n, int64(0), "nothing left to fail")
}

func testDeleteWebhook(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/x"))
	keep := mkHook(t, c, s, hook(siteA, "https://example.com/keep"))
	d := mkDelivery(t, c, s, w, "a")
	k := mkDelivery(t, c, s, keep, "a")
	c.ok(t, s.DeleteWebhook(ctx, siteA, w.ID), "DeleteWebhook")
	_, err := s.GetDelivery(ctx, siteA, d.ID)
	c.is(t, err, store.ErrNotFound, "a deleted webhook's delivery")
	_, err = s.GetDelivery(ctx, siteA, k.ID)
	c.ok(t, err, "another webhook's delivery stays")
	_, _, err = s.RecordAttempt(ctx, siteA, d.ID, store.Attempt{State: store.DeliverySucceeded})
	c.is(t, err, store.ErrNotFound, "RecordAttempt on a deleted webhook's delivery")
}

func rule(site, user int64, kind string) store.AlertRule {
	return store.AlertRule{SiteID: site, UserID: user, Enabled: true, Kind: kind, Params: []byte(`{"hours":6}`)}
}

func mkRule(t *testing.T, c *checker, s store.Store, r store.AlertRule) store.AlertRule {
	t.Helper()
	out, err := s.CreateAlertRule(ctxT(t), r, 100)
	c.ok(t, err, "CreateAlertRule")
	return out
}

func testAlertRules(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	r, err := s.CreateAlertRule(ctx, rule(siteA, userA, "no_data"), 2)
	c.ok(t, err, "CreateAlertRule")
	c.id(t, r.ID, "alert rule")
	c.eq(t, []any{r.SiteID, r.UserID, r.Enabled, r.Kind, string(r.Params)}, []any{siteA, userA, true, "no_data", `{"hours":6}`}, "rule")
	c.recent(t, r.CreateTime, "CreateTime")
	c.true(t, r.LastFireTime.IsZero(), "LastFireTime set on a new rule")
	r2, err := s.CreateAlertRule(ctx, rule(siteA, userA, "answer"), 2)
	c.ok(t, err, "second rule")
	_, err = s.CreateAlertRule(ctx, rule(siteA, userA, "js_errors"), 2)
	c.is(t, err, store.ErrLimit, "third rule at limit 2")
	rb, err := s.CreateAlertRule(ctx, rule(siteA, userB, "js_errors"), 2)
	c.ok(t, err, "the limit is per user")
	rs, err := s.CreateAlertRule(ctx, rule(siteB, userA, "js_errors"), 2)
	c.ok(t, err, "the limit is per site")

	got, err := s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.eq(t, got, r, "GetAlertRule")
	_, err = s.GetAlertRule(ctx, siteA, userB, r.ID)
	c.is(t, err, store.ErrNotFound, "GetAlertRule of another user")
	_, err = s.GetAlertRule(ctx, siteB, userA, r.ID)
	c.is(t, err, store.ErrNotFound, "GetAlertRule through another site")

	list, err := s.ListAlertRules(ctx, siteA, userA)
	c.ok(t, err, "ListAlertRules")
	c.eq(t, ids(list), []int64{r.ID, r2.ID}, "the user's rules of the site, by id")
	list, err = s.ListAlertRules(ctx, siteA, userB)
	c.ok(t, err, "ListAlertRules B")
	c.eq(t, ids(list), []int64{rb.ID}, "another user's rules")
	list, err = s.ListAlertRules(ctx, siteB, userA)
	c.ok(t, err, "ListAlertRules site B")
	c.eq(t, ids(list), []int64{rs.ID}, "the user's rules of another site")

	up := r
	up.Enabled, up.Kind, up.Params = false, "rage_clicks", []byte(`{"factor":3}`)
	up.CreateTime = time.Time{}
	u, err := s.UpdateAlertRule(ctx, up)
	c.ok(t, err, "UpdateAlertRule")
	c.eq(t, []any{u.ID, u.SiteID, u.UserID, u.Enabled, u.Kind, string(u.Params), u.CreateTime},
		[]any{r.ID, siteA, userA, false, "rage_clicks", `{"factor":3}`, r.CreateTime}, "updated rule")
	foreign := u
	foreign.UserID = userB
	foreign.Enabled = true
	_, err = s.UpdateAlertRule(ctx, foreign)
	c.is(t, err, store.ErrNotFound, "UpdateAlertRule of another user's rule")
	foreign = u
	foreign.SiteID = siteB
	_, err = s.UpdateAlertRule(ctx, foreign)
	c.is(t, err, store.ErrNotFound, "UpdateAlertRule through another site")
	got, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.eq(t, got, u, "refused updates changed nothing")

	c.is(t, s.DeleteAlertRule(ctx, siteA, userB, r.ID), store.ErrNotFound, "DeleteAlertRule of another user's rule")
	c.is(t, s.DeleteAlertRule(ctx, siteB, userA, r.ID), store.ErrNotFound, "DeleteAlertRule through another site")
	c.ok(t, s.DeleteAlertRule(ctx, siteA, userA, r.ID), "DeleteAlertRule")
	_, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.is(t, err, store.ErrNotFound, "GetAlertRule after delete")
	c.is(t, s.DeleteAlertRule(ctx, siteA, userA, r.ID), store.ErrNotFound, "DeleteAlertRule twice")
	_, err = s.CreateAlertRule(ctx, rule(siteA, userA, "js_errors"), 2)
	c.ok(t, err, "a deleted rule frees its place under the limit")
}

func testAlertRuleLimitConcurrent(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	const max = 2
	c.racingCreates(t, 8, max, func(int) error {
		_, err := s.CreateAlertRule(ctx, rule(siteA, userA, "no_data"), max)
		return err
	})
}

func testEnabledAlertRules(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	var noData, rage, answersA []int64
	for i := range 12 {
		site := []int64{siteA, siteB}[i%2]
		user := []int64{userA, userB}[i/2%2]
		nd := mkRule(t, c, s, rule(site, user, "no_data"))
		noData = append(noData, nd.ID)
		rg := mkRule(t, c, s, rule(site, user, "rage_clicks"))
		rage = append(rage, rg.ID)
		an := mkRule(t, c, s, rule(site, user, "answer"))
		if site == siteA {
			answersA = append(answersA, an.ID)
		}
		off := rule(site, user, "no_data")
		off.Enabled = false
		mkRule(t, c, s, off)
	}
	var got []int64
	p := store.Page{Limit: 5}
	for pages := 0; ; pages++ {
		c.true(t, pages < 10, "paging does not end")
		rs, err := s.ListEnabledAlertRules(ctx, []string{"no_data", "rage_clicks"}, p)
		c.ok(t, err, "ListEnabledAlertRules")
		c.true(t, len(rs) <= 5, "page of %d rules over its limit 5", len(rs))
		for _, r := range rs {
			c.true(t, r.Enabled && (r.Kind == "no_data" || r.Kind == "rage_clicks"), "listed rule %+v", r)
		}
		got = append(got, ids(rs)...)
		if len(rs) < 5 {
			break
		}
		p.After = rs[len(rs)-1].ID
	}
	want := append(append([]int64{}, noData...), rage...)
	slices.Sort(want)
	c.eq(t, got, want, "every enabled no_data and rage_clicks rule of every site, by id, paged")
	rs, err := s.ListEnabledAlertRules(ctx, []string{"no_data"}, store.Page{})
	c.ok(t, err, "ListEnabledAlertRules no_data")
	c.eq(t, ids(rs), noData, "enabled no_data rules")
	rs, err = s.ListEnabledAlertRules(ctx, nil, store.Page{})
	c.ok(t, err, "ListEnabledAlertRules of no kinds")
	c.eq(t, len(rs), 0, "no kinds, no rules")

	rs, err = s.ListSiteAlertRules(ctx, siteA, "answer")
	c.ok(t, err, "ListSiteAlertRules")
	c.eq(t, ids(rs), answersA, "a site's enabled answer rules, every user's")
	r0, err := s.GetAlertRule(ctx, siteA, userA, answersA[0])
	c.ok(t, err, "GetAlertRule")
	r0.Enabled = false
	_, err = s.UpdateAlertRule(ctx, r0)
	c.ok(t, err, "disable")
	rs, err = s.ListSiteAlertRules(ctx, siteA, "answer")
	c.ok(t, err, "ListSiteAlertRules")
	c.eq(t, ids(rs), answersA[1:], "a disabled rule is not listed")
}

func alert(r store.AlertRule, period string) store.Alert {
	return store.Alert{SiteID: r.SiteID, RuleID: r.ID, UserID: r.UserID, Kind: r.Kind, PeriodKey: period, FireTime: odd,
		Summary: "No data for 6 hours", Link: "http://localhost:8080/sites/1/recordings"}
}

func testAlerts(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	r := mkRule(t, c, s, rule(siteA, userA, "no_data"))
	rb := mkRule(t, c, s, rule(siteB, userA, "no_data"))
	a := created(t, c, s, "first RecordAlert", func(ctx context.Context, tx store.Tx) (store.Alert, bool, error) {
		return tx.RecordAlert(ctx, alert(r, "2026-11-30T07"))
	})
	c.id(t, a.ID, "alert")
	c.eq(t, []any{a.SiteID, a.RuleID, a.UserID, a.Kind, a.PeriodKey, a.Summary, a.Link},
		[]any{siteA, r.ID, userA, "no_data", "2026-11-30T07", "No data for 6 hours", "http://localhost:8080/sites/1/recordings"}, "alert")
	c.sameTime(t, a.FireTime, odd, "FireTime")
	got, err := s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.sameTime(t, got.LastFireTime, odd, "the rule's LastFireTime")

	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		again := alert(r, "2026-11-30T07")
		again.FireTime, again.Summary = odd.Add(time.Hour), "other"
		dup, created, err := tx.RecordAlert(ctx, again)
		c.ok(t, err, "RecordAlert again")
		c.true(t, !created, "RecordAlert of a stored period created one")
		c.eq(t, dup, a, "RecordAlert of a stored period returns the stored alert")
		x := alert(rb, "2026-11-30T07")
		x.SiteID = siteA
		_, _, err = tx.RecordAlert(ctx, x)
		c.is(t, err, store.ErrNotFound, "RecordAlert of another site's rule")
		_, _, err = tx.RecordAlert(ctx, alert(store.AlertRule{ID: r.ID + 1_000_000, SiteID: siteA}, "p"))
		c.is(t, err, store.ErrNotFound, "RecordAlert of a missing rule")
		return nil
	})
	got, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.sameTime(t, got.LastFireTime, odd, "LastFireTime unchanged by a duplicate")

	next := created(t, c, s, "RecordAlert next period", func(ctx context.Context, tx store.Tx) (store.Alert, bool, error) {
		x := alert(r, "2026-11-30T08")
		x.FireTime = time.Time{}
		return tx.RecordAlert(ctx, x)
	})
	c.recent(t, next.FireTime, "FireTime defaulted to now")
	got, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.eq(t, got.LastFireTime, next.FireTime, "LastFireTime follows the newest alert")
	list, err := s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, ids(list), []int64{next.ID, a.ID}, "a site's alerts, newest first")
	list, err = s.ListAlerts(ctx, siteB, store.Page{})
	c.ok(t, err, "ListAlerts B")
	c.eq(t, len(list), 0, "another site's alerts")
	// Deleting the rule keeps the site's history.
	c.ok(t, s.DeleteAlertRule(ctx, siteA, userA, r.ID), "DeleteAlertRule")
	list, err = s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, len(list), 2, "alerts of a deleted rule stay listed")
}

func testAlertPaging(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	r := mkRule(t, c, s, rule(siteA, userA, "answer"))
	rb := mkRule(t, c, s, rule(siteB, userA, "answer"))
	var all []int64
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		for i := range 12 {
			a, _, err := tx.RecordAlert(ctx, alert(r, fmt.Sprintf("answer-%d", i)))
			c.ok(t, err, "RecordAlert")
			all = append(all, a.ID)
			_, _, err = tx.RecordAlert(ctx, alert(rb, fmt.Sprintf("answer-%d", i)))
			c.ok(t, err, "RecordAlert B")
		}
		return nil
	})
	page := func(p store.Page) []int64 {
		t.Helper()
		as, err := s.ListAlerts(ctx, siteA, p)
		c.ok(t, err, "ListAlerts")
		return ids(as)
	}
	rev := func(xs ...int64) []int64 {
		for i, j := 0, len(xs)-1; i < j; i, j = i+1, j-1 {
			xs[i], xs[j] = xs[j], xs[i]
		}
		return xs
	}
	c.eq(t, page(store.Page{Limit: 5}), rev(append([]int64{}, all[7:]...)...), "first page")
	c.eq(t, page(store.Page{Limit: 5, Before: all[7]}), rev(append([]int64{}, all[2:7]...)...), "second page")
	c.eq(t, page(store.Page{Limit: 5, Before: all[2]}), rev(append([]int64{}, all[:2]...)...), "last page")
	c.eq(t, page(store.Page{Limit: 5, After: all[1]}), rev(append([]int64{}, all[2:7]...)...), "previous page (After)")
}

func testDigestSubscriptions(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	_, err := s.GetDigestSubscription(ctx, userA, siteA)
	c.is(t, err, store.ErrNotFound, "GetDigestSubscription never set")
	d, err := s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: userA, SiteID: siteA, Frequency: store.FrequencyDaily})
	c.ok(t, err, "SetDigestSubscription")
	c.eq(t, []any{d.UserID, d.SiteID, d.Frequency}, []any{userA, siteA, store.FrequencyDaily}, "subscription")
	c.recent(t, d.UpdateTime, "UpdateTime")
	got, err := s.GetDigestSubscription(ctx, userA, siteA)
	c.ok(t, err, "GetDigestSubscription")
	c.eq(t, got, d, "GetDigestSubscription")
	_, err = s.GetDigestSubscription(ctx, userA, siteB)
	c.is(t, err, store.ErrNotFound, "another site's subscription")
	_, err = s.GetDigestSubscription(ctx, userB, siteA)
	c.is(t, err, store.ErrNotFound, "another user's subscription")
	d, err = s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: userA, SiteID: siteA, Frequency: store.FrequencyOff})
	c.ok(t, err, "SetDigestSubscription off")
	got, err = s.GetDigestSubscription(ctx, userA, siteA)
	c.ok(t, err, "GetDigestSubscription off")
	c.eq(t, got.Frequency, store.FrequencyOff, "Off is stored, an explicit choice")
	_, err = s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: userA, SiteID: siteA, Frequency: 0})
	c.fails(t, err, "SetDigestSubscription with frequency 0")
	_, err = s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: userA, SiteID: siteA, Frequency: 9})
	c.fails(t, err, "SetDigestSubscription with frequency 9")
	got, err = s.GetDigestSubscription(ctx, userA, siteA)
	c.ok(t, err, "GetDigestSubscription")
	c.eq(t, got.Frequency, store.FrequencyOff, "refused frequencies changed nothing")

	// 3 sites x 7 users, frequency by (site+user) parity, listed by (site, user).
	type key struct{ site, user int64 }
	var daily []key
	for si := range 3 {
		for ui := range 7 {
			site, user := siteA+int64(10*si), userA+int64(ui)
			f := store.FrequencyWeekly
			if (si+ui)%2 == 0 {
				f = store.FrequencyDaily
				daily = append(daily, key{site, user})
			}
			_, err := s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: user, SiteID: site, Frequency: f})
			c.ok(t, err, "SetDigestSubscription")
		}
	}
	var got2 []key
	var as, au int64
	for pages := 0; ; pages++ {
		c.true(t, pages < 20, "paging does not end")
		ds, err := s.ListDigestSubscriptions(ctx, store.FrequencyDaily, as, au, 4)
		c.ok(t, err, "ListDigestSubscriptions")
		c.true(t, len(ds) <= 4, "page of %d over its limit 4", len(ds))
		for _, d := range ds {
			c.eq(t, d.Frequency, store.FrequencyDaily, "listed frequency")
			got2 = append(got2, key{d.SiteID, d.UserID})
		}
		if len(ds) < 4 {
			break
		}
		as, au = ds[len(ds)-1].SiteID, ds[len(ds)-1].UserID
	}
	c.eq(t, got2, daily, "daily subscriptions by (site, user), paged")
	ds, err := s.ListDigestSubscriptions(ctx, store.FrequencyOff, 0, 0, 100)
	c.ok(t, err, "ListDigestSubscriptions off")
	c.eq(t, len(ds), 0, "no one else is off (userA on siteA was overwritten to daily)")
}

func testClaims(t *testing.T, c *checker, s store.Store) {
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimDigest(ctx, userA, siteA, "daily:2026-11-29")
		c.ok(t, err, "ClaimDigest")
		c.true(t, ok, "first ClaimDigest false")
		ok, err = tx.ClaimDigest(ctx, userA, siteA, "daily:2026-11-29")
		c.ok(t, err, "ClaimDigest again")
		c.true(t, !ok, "second ClaimDigest of the same period true")
		for _, k := range []struct {
			user, site int64
			period     string
		}{{userB, siteA, "daily:2026-11-29"}, {userA, siteB, "daily:2026-11-29"}, {userA, siteA, "daily:2026-11-30"}, {userA, siteA, "weekly:2026-W48"}} {
			ok, err = tx.ClaimDigest(ctx, k.user, k.site, k.period)
			c.ok(t, err, "ClaimDigest")
			c.true(t, ok, "ClaimDigest of another user, site or period false: %+v", k)
		}
		ok, err = tx.ClaimEvent(ctx, "evt_1")
		c.ok(t, err, "ClaimEvent")
		c.true(t, ok, "first ClaimEvent false")
		ok, err = tx.ClaimEvent(ctx, "evt_1")
		c.ok(t, err, "ClaimEvent again")
		c.true(t, !ok, "second ClaimEvent true")
		ok, err = tx.ClaimEvent(ctx, "evt_2")
		c.ok(t, err, "ClaimEvent other")
		c.true(t, ok, "ClaimEvent of another id false")
		_, err = tx.ClaimEvent(ctx, strings.Repeat("e", 100_000))
		c.fails(t, err, "ClaimEvent of a 100 kB id")
		return nil
	})
	// Claims are durable across transactions.
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimDigest(ctx, userA, siteA, "daily:2026-11-29")
		c.ok(t, err, "ClaimDigest in a later transaction")
		c.true(t, !ok, "a committed claim is forgotten")
		ok, err = tx.ClaimEvent(ctx, "evt_2")
		c.ok(t, err, "ClaimEvent in a later transaction")
		c.true(t, !ok, "a committed event claim is forgotten")
		return nil
	})
}

// testClaimDigestConcurrent: replicas racing for the same digest, each in
// its own transaction: exactly one wins.
func testClaimDigestConcurrent(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	for round := range 5 {
		const n = 8
		var wins atomic.Int32
		errs := make([]error, n)
		period := fmt.Sprintf("daily:2026-11-%02d", round+1)
		together(n, func(i int) {
			errs[i] = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				ok, err := tx.ClaimDigest(ctx, userA, siteA, period)
				if ok {
					wins.Add(1)
				}
				return err
			})
		})
		for _, err := range errs {
			c.ok(t, err, "concurrent ClaimDigest")
		}
		c.eq(t, wins.Load(), int32(1), "concurrent claims of one digest that won")
	}
}

// testIdempotentConcurrent: replicas racing to record the same alert and
// create the same delivery, each in its own transaction: one creates, every
// one gets the same row.
func testIdempotentConcurrent(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/i"))
	r := mkRule(t, c, s, rule(siteA, userA, "no_data"))
	for round := range 3 {
		const n = 8
		type res struct {
			alert, delivery int64
			created         int
			err             error
		}
		out := make([]res, n)
		together(n, func(i int) {
			out[i].err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				a, ac, err := tx.RecordAlert(ctx, alert(r, fmt.Sprintf("round-%d", round)))
				if err != nil {
					return err
				}
				d, dc, err := tx.CreateDelivery(ctx, delivery(w, fmt.Sprintf("round-%d", round)))
				if err != nil {
					return err
				}
				out[i].alert, out[i].delivery = a.ID, d.ID
				if ac {
					out[i].created++
				}
				if dc {
					out[i].created += 10
				}
				return nil
			})
		})
		created := 0
		for _, o := range out {
			c.ok(t, o.err, "concurrent RecordAlert and CreateDelivery")
			c.eq(t, []int64{o.alert, o.delivery}, []int64{out[0].alert, out[0].delivery}, "every racer gets the same alert and delivery")
			created += o.created
		}
		c.eq(t, created, 11, "one alert and one delivery created (1 + 10)")
	}
	as, err := s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, len(as), 3, "one alert per period")
	ds, err := s.ListDeliveries(ctx, siteA, w.ID, store.Page{})
	c.ok(t, err, "ListDeliveries")
	c.eq(t, len(ds), 3, "one delivery per key")
}

// testConcurrentTx: many goroutines writing in transactions at once (the
// job queue's workers) all succeed: no "database is locked".
func testConcurrentTx(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/c"))
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					key := fmt.Sprintf("evt_%d_%d", g, i)
					ok, err := tx.ClaimEvent(ctx, key)
					if err != nil || !ok {
						return fmt.Errorf("claim %s: %v %v", key, ok, err)
					}
					_, created, err := tx.CreateDelivery(ctx, delivery(w, key))
					if err != nil || !created {
						return fmt.Errorf("delivery %s: %v %v", key, created, err)
					}
					return nil
				})
				if err == nil && i%5 == 0 {
					// Reads and single writes interleave with the transactions.
					_, err = s.ListWebhooks(ctx, siteA)
					if err == nil {
						_, err = s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: int64(g) + 1, SiteID: siteA, Frequency: store.FrequencyDaily})
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.ok(t, err, "a concurrent transaction")
	}
	ds, err := s.ListDeliveries(ctx, siteA, w.ID, store.Page{Limit: 1000})
	c.ok(t, err, "ListDeliveries")
	c.eq(t, len(ds), workers*each, "deliveries written by concurrent transactions")
}

// testRollBack: an error from the function rolls every write back.
func testRollBack(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/rb"))
	r := mkRule(t, c, s, rule(siteA, userA, "no_data"))
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		c.true(t, tx.Raw() != nil, "Tx.Raw is nil")
		_, created, err := tx.CreateDelivery(ctx, delivery(w, "k"))
		c.ok(t, err, "CreateDelivery")
		c.true(t, created, "not created")
		_, created, err = tx.RecordAlert(ctx, alert(r, "p"))
		c.ok(t, err, "RecordAlert")
		c.true(t, created, "not created")
		ok, err := tx.ClaimDigest(ctx, userA, siteA, "daily:x")
		c.ok(t, err, "ClaimDigest")
		c.true(t, ok, "not claimed")
		ok, err = tx.ClaimEvent(ctx, "evt")
		c.ok(t, err, "ClaimEvent")
		c.true(t, ok, "not claimed")
		return fmt.Errorf("wrapped: %w", boom)
	})
	c.is(t, err, boom, "InTx returns the function's error")
	ds, err := s.ListDeliveries(ctx, siteA, w.ID, store.Page{})
	c.ok(t, err, "ListDeliveries")
	c.eq(t, len(ds), 0, "deliveries after a rolled-back transaction")
	as, err := s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, len(as), 0, "alerts after a rolled-back transaction")
	got, err := s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "GetAlertRule")
	c.true(t, got.LastFireTime.IsZero(), "LastFireTime after a rolled-back alert: %v", got.LastFireTime)
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimDigest(ctx, userA, siteA, "daily:x")
		c.ok(t, err, "ClaimDigest")
		c.true(t, ok, "a rolled-back digest claim stayed")
		ok, err = tx.ClaimEvent(ctx, "evt")
		c.ok(t, err, "ClaimEvent")
		c.true(t, ok, "a rolled-back event claim stayed")
		d, created, err := tx.CreateDelivery(ctx, delivery(w, "k"))
		c.ok(t, err, "CreateDelivery")
		c.true(t, created && d.State == store.DeliveryPending, "a rolled-back delivery stayed")
		return nil
	})
	// A failing statement inside rolls back what came before it, too.
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.ClaimEvent(ctx, "evt2"); err != nil {
			return err
		}
		_, _, err := tx.CreateDelivery(ctx, delivery(store.Webhook{ID: w.ID + 1_000_000, SiteID: siteA}, "k"))
		return err
	})
	c.is(t, err, store.ErrNotFound, "InTx with a failing step")
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimEvent(ctx, "evt2")
		c.ok(t, err, "ClaimEvent")
		c.true(t, ok, "an event claimed before a failing step stayed")
		return nil
	})
}

// seed gives a site one of everything.
func seed(t *testing.T, c *checker, s store.Store, site, user int64) (store.Webhook, store.Delivery, store.AlertRule, store.Alert) {
	w := mkHook(t, c, s, hook(site, "https://example.com/s"))
	d := mkDelivery(t, c, s, w, "k")
	r := mkRule(t, c, s, rule(site, user, "no_data"))
	var a store.Alert
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		a, _, err = tx.RecordAlert(ctx, alert(r, "p"))
		if err != nil {
			return err
		}
		_, err = tx.ClaimDigest(ctx, user, site, "daily:1")
		return err
	})
	_, err := s.SetDigestSubscription(ctxT(t), store.DigestSubscription{UserID: user, SiteID: site, Frequency: store.FrequencyWeekly})
	c.ok(t, err, "SetDigestSubscription")
	return w, d, r, a
}

func testDeleteSite(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	wa, da, ra, _ := seed(t, c, s, siteA, userA)
	wb, db, rb, ab := seed(t, c, s, siteB, userA)
	c.ok(t, s.DeleteSite(ctx, siteA), "DeleteSite")
	_, err := s.GetWebhook(ctx, siteA, wa.ID)
	c.is(t, err, store.ErrNotFound, "webhook of a deleted site")
	_, err = s.GetDelivery(ctx, siteA, da.ID)
	c.is(t, err, store.ErrNotFound, "delivery of a deleted site")
	_, err = s.GetAlertRule(ctx, siteA, userA, ra.ID)
	c.is(t, err, store.ErrNotFound, "rule of a deleted site")
	as, err := s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, len(as), 0, "alerts of a deleted site")
	_, err = s.GetDigestSubscription(ctx, userA, siteA)
	c.is(t, err, store.ErrNotFound, "subscription of a deleted site")
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimDigest(ctx, userA, siteA, "daily:1")
		c.ok(t, err, "ClaimDigest")
		c.true(t, ok, "digest ledger of a deleted site kept")
		ok, err = tx.ClaimDigest(ctx, userA, siteB, "daily:1")
		c.ok(t, err, "ClaimDigest")
		c.true(t, !ok, "digest ledger of another site removed")
		return nil
	})
	// Site B is whole.
	_, err = s.GetWebhook(ctx, siteB, wb.ID)
	c.ok(t, err, "other site's webhook")
	_, err = s.GetDelivery(ctx, siteB, db.ID)
	c.ok(t, err, "other site's delivery")
	_, err = s.GetAlertRule(ctx, siteB, userA, rb.ID)
	c.ok(t, err, "other site's rule")
	as, err = s.ListAlerts(ctx, siteB, store.Page{})
	c.ok(t, err, "ListAlerts B")
	c.eq(t, ids(as), []int64{ab.ID}, "other site's alerts")
	_, err = s.GetDigestSubscription(ctx, userA, siteB)
	c.ok(t, err, "other site's subscription")
	c.ok(t, s.DeleteSite(ctx, 123), "DeleteSite of a site without rows")
}

func testDeleteUserSite(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w, _, r, _ := seed(t, c, s, siteA, userA)
	rOther := mkRule(t, c, s, rule(siteA, userB, "no_data"))
	_, err := s.SetDigestSubscription(ctx, store.DigestSubscription{UserID: userB, SiteID: siteA, Frequency: store.FrequencyDaily})
	c.ok(t, err, "SetDigestSubscription B")
	_, _, rB, _ := seed(t, c, s, siteB, userA)
	c.ok(t, s.DeleteUserSite(ctx, userA, siteA), "DeleteUserSite")
	_, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.is(t, err, store.ErrNotFound, "the user's rule of the site")
	_, err = s.GetDigestSubscription(ctx, userA, siteA)
	c.is(t, err, store.ErrNotFound, "the user's subscription of the site")
	_, err = s.GetAlertRule(ctx, siteA, userB, rOther.ID)
	c.ok(t, err, "another user's rule stays")
	_, err = s.GetDigestSubscription(ctx, userB, siteA)
	c.ok(t, err, "another user's subscription stays")
	_, err = s.GetAlertRule(ctx, siteB, userA, rB.ID)
	c.ok(t, err, "the user's rule of another site stays")
	_, err = s.GetDigestSubscription(ctx, userA, siteB)
	c.ok(t, err, "the user's subscription of another site stays")
	_, err = s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "the site's webhook stays")
}

func testPrune(t *testing.T, c *checker, s store.Store) {
	ctx := ctxT(t)
	w := mkHook(t, c, s, hook(siteA, "https://example.com/pr"))
	r := mkRule(t, c, s, rule(siteA, userA, "no_data"))
	done := mkDelivery(t, c, s, w, "done")
	failed := mkDelivery(t, c, s, w, "failed")
	pending := mkDelivery(t, c, s, w, "pending")
	retrying := mkDelivery(t, c, s, w, "retrying")
	for _, x := range []struct {
		id    int64
		state store.DeliveryState
	}{{done.ID, store.DeliverySucceeded}, {failed.ID, store.DeliveryFailed}, {retrying.ID, store.DeliveryRetrying}} {
		_, _, err := s.RecordAttempt(ctx, siteA, x.id, store.Attempt{State: x.state, NextTime: time.Now().Add(time.Hour)})
		c.ok(t, err, "RecordAttempt")
	}
	old, recent := time.Now().Add(-48*time.Hour), time.Now()
	var oldAlert, newAlert store.Alert
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		a := alert(r, "old")
		a.FireTime = old
		oldAlert, _, _ = tx.RecordAlert(ctx, a)
		a = alert(r, "new")
		a.FireTime = recent
		newAlert, _, _ = tx.RecordAlert(ctx, a)
		for i := range 5 {
			if _, err := tx.ClaimEvent(ctx, fmt.Sprintf("e%d", i)); err != nil {
				return err
			}
		}
		_, err := tx.ClaimDigest(ctx, userA, siteA, "daily:1")
		return err
	})
	n, err := s.Prune(ctx, time.Now().Add(-time.Hour))
	c.ok(t, err, "Prune of the last day")
	c.eq(t, n, int64(1), "rows older than an hour: the old alert")
	as, err := s.ListAlerts(ctx, siteA, store.Page{})
	c.ok(t, err, "ListAlerts")
	c.eq(t, ids(as), []int64{newAlert.ID}, "the recent alert stays")
	c.true(t, oldAlert.ID != 0, "old alert recorded")

	n, err = s.Prune(ctx, time.Now().Add(time.Hour))
	c.ok(t, err, "Prune of everything")
	c.eq(t, n, int64(2+1+5+1), "finished deliveries, the alert, 5 events and 1 digest claim")
	ds, err := s.ListDeliveries(ctx, siteA, w.ID, store.Page{})
	c.ok(t, err, "ListDeliveries")
	c.eq(t, ids(ds), []int64{retrying.ID, pending.ID}, "pending and retrying deliveries stay (a job owns them)")
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.ClaimEvent(ctx, "e3")
		c.ok(t, err, "ClaimEvent")
		c.true(t, ok, "a pruned event claim remains")
		ok, err = tx.ClaimDigest(ctx, userA, siteA, "daily:1")
		c.ok(t, err, "ClaimDigest")
		c.true(t, ok, "a pruned digest claim remains")
		return nil
	})
	_, err = s.GetWebhook(ctx, siteA, w.ID)
	c.ok(t, err, "Prune keeps webhooks")
	_, err = s.GetAlertRule(ctx, siteA, userA, r.ID)
	c.ok(t, err, "Prune keeps rules")

	// Batches: more rows than one batch.
	inTx(t, c, s, func(ctx context.Context, tx store.Tx) error {
		for i := range 2500 {
			if _, err := tx.ClaimEvent(ctx, fmt.Sprintf("bulk%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	n, err = s.Prune(ctx, time.Now().Add(time.Hour))
	c.ok(t, err, "Prune in batches")
	c.eq(t, n, int64(2500+2), "every row pruned across batches (and the two claims above)")
}

func testHandle(t *testing.T, c *checker, s store.Store) {
	c.true(t, s.Handle() != nil, "Handle is nil")
	c.ok(t, s.Ping(ctxT(t)), "Ping")
}
