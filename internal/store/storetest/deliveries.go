package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// LogStore is a backend with the notification pipeline's delivery log.
type LogStore interface {
	store.Store
	store.DeliveryLog
}

// LogOpener returns a new, empty store for one test.
type LogOpener func(t *testing.T) LogStore

// RunDeliveryLog runs the conformance suite of store.DeliveryLog.
func RunDeliveryLog(t *testing.T, open LogOpener) {
	tests := []struct {
		name string
		fn   func(*testing.T, LogOpener)
	}{
		{"a queued delivery round-trips with every field", testDeliveryRoundTrip},
		{"queueing a key twice keeps the first row and returns it", testDeliveryQueueTwice},
		{"a finished delivery is no longer queued, and keeps its outcome", testDeliveryFinish},
		{"finishing an unknown delivery is ErrNotFound", testDeliveryFinishUnknown},
		{"a delivery of an unknown run is ErrNotFound", testDeliveryUnknownRun},
		{"bad delivery input is refused", testDeliveryBadInput},
		{"queued deliveries of every run, oldest first", testQueuedDeliveries},
		{"notifier state is kept per run and notifier, and replaced", testNotifierState},
		{"racing queuers of one key: exactly one queues it", testDeliveryRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func delivery(run, notifier, key string, at time.Time) *store.Delivery {
	return &store.Delivery{RunID: run, Notifier: notifier, Key: key, Payload: []byte(`{"type":"run.started"}`), QueuedAt: at}
}

func testDeliveryRoundTrip(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	d := delivery("r1", "statuspage", "42", base)
	queued, err := s.QueueDelivery(ctx(t), d)
	if err != nil || !queued {
		t.Fatalf("QueueDelivery = %v, %v; want true, nil", queued, err)
	}
	got, err := s.Deliveries(ctx(t), "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := []*store.Delivery{{RunID: "r1", Notifier: "statuspage", Key: "42", Status: store.DeliveryQueued,
		Payload: []byte(`{"type":"run.started"}`), QueuedAt: base.UTC(), UpdatedAt: base.UTC()}}
	equal(t, "deliveries", got, want)
	if none, err := s.Deliveries(ctx(t), "other"); err != nil || len(none) != 0 {
		t.Fatalf("Deliveries(other) = %v, %v; want none", none, err)
	}
}

func testDeliveryQueueTwice(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	if _, err := s.QueueDelivery(ctx(t), delivery("r1", "pagerduty", "7", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx(t), "r1", "pagerduty", "7", store.DeliveryDelivered, 2, ""); err != nil {
		t.Fatal(err)
	}
	again := delivery("r1", "pagerduty", "7", base.Add(time.Hour))
	again.Payload = []byte(`{"other":true}`)
	queued, err := s.QueueDelivery(ctx(t), again)
	if err != nil || queued {
		t.Fatalf("second QueueDelivery = %v, %v; want false, nil", queued, err)
	}
	if again.Status != store.DeliveryDelivered || again.Attempts != 2 || string(again.Payload) != `{"type":"run.started"}` ||
		!again.QueuedAt.Equal(base) {
		t.Fatalf("second QueueDelivery gave %+v, want the stored row (delivered, 2 attempts, first payload)", again)
	}
	// Another notifier, or another key, is another row.
	for _, d := range []*store.Delivery{delivery("r1", "statuspage", "7", base), delivery("r1", "pagerduty", "8", base)} {
		if queued, err := s.QueueDelivery(ctx(t), d); err != nil || !queued {
			t.Fatalf("QueueDelivery(%s/%s) = %v, %v; want true", d.Notifier, d.Key, queued, err)
		}
	}
	all, _ := s.Deliveries(ctx(t), "r1")
	if len(all) != 3 {
		t.Fatalf("%d rows, want 3", len(all))
	}
}

func testDeliveryFinish(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	for i, k := range []string{"1", "2", "3"} {
		if _, err := s.QueueDelivery(ctx(t), delivery("r1", "card", k, base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishDelivery(ctx(t), "r1", "card", "1", store.DeliveryDelivered, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx(t), "r1", "card", "2", store.DeliveryFailed, 5, "HTTP 500 after 5 attempts"); err != nil {
		t.Fatal(err)
	}
	q, err := s.QueuedDeliveries(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Key != "3" {
		t.Fatalf("queued = %s, want only key 3", show(q))
	}
	all, _ := s.Deliveries(ctx(t), "r1")
	if all[0].Status != store.DeliveryDelivered || all[1].Status != store.DeliveryFailed || all[1].Attempts != 5 ||
		all[1].Error != "HTTP 500 after 5 attempts" || all[2].Status != store.DeliveryQueued {
		t.Fatalf("rows = %s", show(all))
	}
	if !all[1].UpdatedAt.After(all[1].QueuedAt) {
		t.Errorf("UpdatedAt %s is not after QueuedAt %s", all[1].UpdatedAt, all[1].QueuedAt)
	}
	if err := s.FinishDelivery(ctx(t), "r1", "card", "3", store.DeliveryQueued, 1, ""); err == nil {
		t.Error("FinishDelivery with status queued was accepted")
	}
}

func testDeliveryFinishUnknown(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	err := s.FinishDelivery(ctx(t), "r1", "card", "nope", store.DeliveryDelivered, 1, "")
	wantErr(t, "FinishDelivery of no row", err, store.ErrNotFound)
}

func testDeliveryUnknownRun(t *testing.T, open LogOpener) {
	s := open(t)
	_, err := s.QueueDelivery(ctx(t), delivery("ghost", "card", "1", base))
	wantErr(t, "QueueDelivery of an unknown run", err, store.ErrNotFound)
	err = s.SetNotifierState(ctx(t), "ghost", "statuspage", "incident", "abc")
	wantErr(t, "SetNotifierState of an unknown run", err, store.ErrNotFound)
}

func testDeliveryBadInput(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	for name, d := range map[string]*store.Delivery{
		"no notifier": {RunID: "r1", Key: "1"},
		"no key":      {RunID: "r1", Notifier: "card"},
		"bad status":  {RunID: "r1", Notifier: "card", Key: "1", Status: "lost"},
		"attempts":    {RunID: "r1", Notifier: "card", Key: "1", Attempts: -1},
	} {
		if _, err := s.QueueDelivery(ctx(t), d); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: QueueDelivery = %v, want a validation error", name, err)
		}
	}
	if all, _ := s.Deliveries(ctx(t), "r1"); len(all) != 0 {
		t.Fatalf("bad input wrote %s", show(all))
	}
	if err := s.SetNotifierState(ctx(t), "r1", "", "k", "v"); err == nil {
		t.Error("SetNotifierState with no notifier was accepted")
	}
}

func testQueuedDeliveries(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb1", store.RunRunning))
	mustCreate(t, s, fullRun("r2", "rb2", store.RunRunning))
	for _, d := range []*store.Delivery{delivery("r2", "card", "1", base.Add(2*time.Second)),
		delivery("r1", "card", "1", base.Add(time.Second)), delivery("r1", "statuspage", "1", base.Add(3*time.Second))} {
		if _, err := s.QueueDelivery(ctx(t), d); err != nil {
			t.Fatal(err)
		}
	}
	q, err := s.QueuedDeliveries(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range q {
		got = append(got, d.RunID+"/"+d.Notifier)
	}
	equal(t, "queued order", got, []string{"r1/card", "r2/card", "r1/statuspage"})
}

func testNotifierState(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb1", store.RunRunning))
	mustCreate(t, s, fullRun("r2", "rb2", store.RunRunning))
	st, err := s.NotifierState(ctx(t), "r1", "statuspage")
	if err != nil || st == nil || len(st) != 0 {
		t.Fatalf("empty state = %v, %v; want an empty map", st, err)
	}
	for _, kv := range [][4]string{{"r1", "statuspage", "incident", "inc1"}, {"r1", "statuspage", "status", "identified"},
		{"r1", "pagerduty", "incident", "P1"}, {"r2", "statuspage", "incident", "inc2"}, {"r1", "statuspage", "status", "monitoring"}} {
		if err := s.SetNotifierState(ctx(t), kv[0], kv[1], kv[2], kv[3]); err != nil {
			t.Fatal(err)
		}
	}
	st, _ = s.NotifierState(ctx(t), "r1", "statuspage")
	equal(t, "r1/statuspage", st, map[string]string{"incident": "inc1", "status": "monitoring"})
	st, _ = s.NotifierState(ctx(t), "r2", "statuspage")
	equal(t, "r2/statuspage", st, map[string]string{"incident": "inc2"})
}

func testDeliveryRace(t *testing.T, open LogOpener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	const n = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			d := delivery("r1", "pagerduty", "9", base.Add(time.Duration(i)*time.Millisecond))
			d.Payload = fmt.Appendf(nil, `{"by":%d}`, i)
			queued, err := s.QueueDelivery(ctx(t), d)
			if err != nil {
				errs <- err
				return
			}
			if queued {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if wins.Load() != 1 {
		t.Fatalf("%d queuers queued the key, want exactly 1", wins.Load())
	}
}
