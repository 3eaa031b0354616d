// Package storetest is the conformance suite every store.Store backend
// passes: the same behaviour, errors and guarantees from SQLite and
// PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Opener returns a new, empty store for one test; the test's cleanup
// closes it (Run does not call Close itself, except in its Close test).
type Opener func(t *testing.T) store.Store

// Run runs the whole suite; each subtest opens its own empty store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"a run round-trips with every field", testRunRoundTrip},
		{"times are UTC and keep microseconds", testTimePrecision},
		{"empty maps and zero times stay empty", testEmptyValues},
		{"an unknown run is ErrNotFound", testNotFound},
		{"bad input is refused and changes nothing", testBadInput},
		{"a duplicate run id is refused", testDuplicateID},
		{"each active state holds the runbook's lock", testActiveStatesLock},
		{"a terminal run frees the runbook's lock", testTerminalFreesLock},
		{"moving a run back to active while another is active is ErrActiveRun", testReactivate},
		{"UpdateRun stores every field and increments Version", testUpdateRun},
		{"UpdateRun with a stale Version is ErrConflict", testStaleVersion},
		{"SetCard records the card without changing Version", testSetCard},
		{"Key makes a key once and gives it to every caller", testKey},
		{"ClaimRun takes a free run and refuses a held one", testClaimHeld},
		{"ClaimRun by the same owner renews the lease", testClaimRenew},
		{"ClaimRun takes over an expired lease and fences the old owner", testClaimExpired},
		{"ListRuns filters and orders newest first", testListRuns},
		{"steps round-trip and are replaced by PutStep", testSteps},
		{"approvals are replaced, withdrawn and ordered oldest first", testApprovals},
		{"audit events keep their order and get increasing Seq", testAudit},
		{"a cancelled context stops every call", testCancelled},
		{"racing creators: exactly one active run wins", testRaceCreate},
		{"racing updaters: exactly one wins the Version", testRaceUpdate},
		{"racing claimers: exactly one owner wins", testRaceClaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// RunShared runs the cross-instance tests: open returns two separate store
// instances (two pools, as in two bot processes) on one empty database.
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	t.Run("two instances racing: exactly one active run wins", func(t *testing.T) { testSharedRace(t, open) })
	t.Run("two instances see each other's writes and leases", func(t *testing.T) { testSharedVisibility(t, open) })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// base is a time with microsecond precision in a non-UTC zone.
var base = time.Date(2026, 11, 22, 5, 30, 0, 123456000, time.FixedZone("CET", 3600))

// fullRun returns a run with every field set (times not in UTC).
func fullRun(id, runbook string, state store.RunState) *store.Run {
	return &store.Run{
		ID: id, Runbook: runbook, PlanHash: "sha256:" + id, Params: map[string]string{"replicas": "3", "ticket": "INC-1"},
		Requester: "U-req", Reason: "primary down", State: state, StateReason: "because " + id,
		CreatedAt: base, StartedAt: base.Add(time.Second), EndedAt: base.Add(time.Minute),
		ApprovalMsg: store.MessageRef{Channel: "C1", TS: "1700000000.000100"},
		Card:        store.MessageRef{Channel: "C1", TS: "1700000000.000200"},
		Owner:       "", LeaseUntil: time.Time{},
	}
}

// utc returns a copy of r with times in UTC: what the store returns.
func utc(r *store.Run) *store.Run {
	c := *r
	c.CreatedAt, c.StartedAt, c.EndedAt, c.LeaseUntil = u(c.CreatedAt), u(c.StartedAt), u(c.EndedAt), u(c.LeaseUntil)
	return &c
}

func u(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func mustCreate(t *testing.T, s store.Store, r *store.Run) *store.Run {
	t.Helper()
	if err := s.CreateRun(ctx(t), r); err != nil {
		t.Fatalf("CreateRun(%s): %v", r.ID, err)
	}
	return r
}

func mustGet(t *testing.T, s store.Store, id string) *store.Run {
	t.Helper()
	r, err := s.GetRun(ctx(t), id)
	if err != nil {
		t.Fatalf("GetRun(%s): %v", id, err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			return fmt.Sprintf("%+v", rv.Elem().Interface())
		}
		return fmt.Sprintf("%+v", v)
	}
	s := "["
	for i := 0; i < rv.Len(); i++ {
		s += "\n  " + show(rv.Index(i).Interface())
	}
	return s + "]"
}

func ids(runs []*store.Run) []string {
	out := []string{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func testKey(t *testing.T, open Opener) {
	s := open(t)
	k, ok := s.(store.Keys)
	if !ok {
		t.Fatal("the store keeps no keys")
	}
	a, err := k.Key(ctx(t), "plan-binding")
	if err != nil || len(a) != 32 {
		t.Fatalf("Key = %x, %v", a, err)
	}
	b, err := k.Key(ctx(t), "plan-binding")
	if err != nil || string(a) != string(b) {
		t.Errorf("a second Key gave %x, %v; want the first %x", b, err, a)
	}
	if c, _ := k.Key(ctx(t), "another"); string(c) == string(a) {
		t.Error("two names got the same key")
	}
}
