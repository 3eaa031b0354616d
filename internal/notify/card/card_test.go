package card

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

type op struct {
	kind string // post, update, reply
	at   time.Time
	ref  chat.MessageRef
	msg  chat.Message
}

// fakePoster records what it is asked to do; failUpdates makes the first
// n edits fail; block makes every call wait until released.
type fakePoster struct {
	mu          sync.Mutex
	ops         []op
	seq         int
	failUpdates int
	failReplies int
	block       chan struct{}
}

func (p *fakePoster) wait(ctx context.Context) error {
	if p.block == nil {
		return nil
	}
	select {
	case <-p.block:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *fakePoster) Post(ctx context.Context, channel string, m chat.Message) (chat.MessageRef, error) {
	if err := p.wait(ctx); err != nil {
		return chat.MessageRef{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	ref := chat.MessageRef{Channel: channel, TS: fmt.Sprint(p.seq)}
	p.ops = append(p.ops, op{"post", time.Now(), ref, m})
	return ref, nil
}

func (p *fakePoster) Update(ctx context.Context, ref chat.MessageRef, m chat.Message) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failUpdates > 0 {
		p.failUpdates--
		return errors.New("slack: ratelimited")
	}
	p.ops = append(p.ops, op{"update", time.Now(), ref, m})
	return nil
}

func (p *fakePoster) Reply(ctx context.Context, thread chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	if err := p.wait(ctx); err != nil {
		return chat.MessageRef{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failReplies > 0 {
		p.failReplies--
		return chat.MessageRef{}, errors.New("slack: internal_error")
	}
	p.seq++
	p.ops = append(p.ops, op{"reply", time.Now(), thread, m})
	return chat.MessageRef{Channel: thread.Channel, TS: fmt.Sprint(p.seq)}, nil
}

func (p *fakePoster) Ephemeral(context.Context, string, string, chat.Message) error { return nil }

func (p *fakePoster) of(kind string) []op {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []op
	for _, o := range p.ops {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func testRunbook() *runbook.Runbook {
	var steps []*runbook.Step
	for i := range 20 {
		steps = append(steps, &runbook.Step{ID: fmt.Sprintf("s%02d", i), Name: fmt.Sprintf("step %d", i), Phase: "main"})
	}
	return &runbook.Runbook{Name: "lab", Channel: "#incident-lab", ExpectedDuration: time.Minute,
		Phases: []*runbook.Phase{{ID: "main", Name: "Main", Steps: steps}}}
}

type env struct {
	ctx    context.Context
	st     store.Store
	poster *fakePoster
	n      *Notifier
	rb     *runbook.Runbook
	run    *store.Run
}

func newEnv(t *testing.T, ctx context.Context, poster *fakePoster, dbPath string) *env {
	t.Helper()
	st, err := sqlite.Open(ctx, dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rb := testRunbook()
	n, err := New(Options{Poster: poster, Store: st, Runbooks: func(string) (*runbook.Runbook, error) { return rb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, st: st, poster: poster, n: n, rb: rb}
}

func (e *env) createRun(t *testing.T) {
	t.Helper()
	r := &store.Run{ID: "lab-1", Runbook: "lab", Requester: "oncall-1", State: store.RunRunning, CreatedAt: time.Now(), StartedAt: time.Now()}
	if err := e.st.CreateRun(e.ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutApproval(e.ctx, &store.Approval{RunID: "lab-1", User: "oncall-2", Decision: store.Approve, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.run = r
}

// stepDone records step i done and announces it.
func (e *env) stepDone(t *testing.T, i int) {
	t.Helper()
	id := fmt.Sprintf("s%02d", i)
	if err := e.st.PutStep(e.ctx, &store.StepState{RunID: "lab-1", StepID: id, Status: store.StepDone, Summary: "ok " + id, StartedAt: time.Now(), EndedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.n.Notify(e.ctx, events.Event{Type: events.StepDone, RunID: "lab-1", Runbook: "lab", StepID: id, Summary: "ok " + id})
}

func (e *env) succeed(t *testing.T) {
	t.Helper()
	e.setState(t, store.RunSucceeded)
	e.n.Notify(e.ctx, events.Event{Type: events.RunSucceeded, RunID: "lab-1", Runbook: "lab"})
}

// setState moves the run to state as the executor would, re-reading it
// when the notifier stored the card reference meanwhile.
func (e *env) setState(t *testing.T, state store.RunState) {
	t.Helper()
	for {
		r, err := e.st.GetRun(e.ctx, "lab-1")
		if err != nil {
			t.Fatal(err)
		}
		r.State, r.EndedAt = state, time.Now()
		err = e.st.UpdateRun(e.ctx, r)
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrConflict) {
			t.Fatal(err)
		}
	}
}

func lastView(t *testing.T, p *fakePoster) *chat.ProgressView {
	t.Helper()
	var v *chat.ProgressView
	for _, o := range p.ops {
		if o.kind == "post" || o.kind == "update" {
			v = o.msg.View.(*chat.ProgressView)
		}
	}
	if v == nil {
		t.Fatal("no card")
	}
	return v
}

// The pace of edits is the transport's (chat/slack's coalescer keeps to
// one chat.update per second a channel); the card folds the events that
// arrive while it posts into its next edit.
func TestABurstOfEventsIsCoalescedAndTheLastStateLands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := newEnv(t, ctx, &fakePoster{}, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		go e.n.Run(ctx)
		e.n.Notify(ctx, events.Event{Type: events.RunStarted, RunID: "lab-1", Runbook: "lab"})
		// 20 steps finish within 2 s: one every 100 ms.
		for i := range 20 {
			time.Sleep(100 * time.Millisecond)
			e.stepDone(t, i)
		}
		e.succeed(t)
		time.Sleep(10 * time.Second)
		synctest.Wait()

		posts, updates := e.poster.of("post"), e.poster.of("update")
		if len(posts) != 1 {
			t.Fatalf("%d cards posted, want 1", len(posts))
		}
		// 21 announcements: a post and at most one edit each.
		if len(updates) > 21 {
			t.Errorf("%d edits for 21 announcements", len(updates))
		}
		v := lastView(t, e.poster)
		if v.State != "succeeded" || v.Phases[0].Status != "done" || v.Approvers[0] != "oncall-2" || v.Requester != "oncall-1" {
			t.Errorf("last card = %+v, want the final state", v)
		}
		for _, s := range v.Phases[0].Steps {
			if s.Status != "done" {
				t.Errorf("step %s is %s on the last card", s.ID, s.Status)
			}
		}
		// Every step's detail went to the card's thread, in order.
		replies := e.poster.of("reply")
		if len(replies) != 21 {
			t.Fatalf("%d thread replies, want 21", len(replies))
		}
		for i, r := range replies[:20] {
			if want := fmt.Sprintf("✓ s%02d done: ok s%02d", i, i); r.msg.Text != want || r.ref != posts[0].ref {
				t.Errorf("reply %d = %q in %v, want %q in the card's thread", i, r.msg.Text, r.ref, want)
			}
		}
		run, _ := e.st.GetRun(ctx, "lab-1")
		if chat.MessageRef(run.Card) != posts[0].ref {
			t.Errorf("run.Card = %+v, want the card %+v", run.Card, posts[0].ref)
		}
	})
}

func TestPosterFailuresAreRetriedAndTheLastStateLands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := newEnv(t, ctx, &fakePoster{failUpdates: 3, failReplies: 2}, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		go e.n.Run(ctx)
		e.n.Notify(ctx, events.Event{Type: events.RunStarted, RunID: "lab-1"})
		time.Sleep(time.Second)
		e.stepDone(t, 0)
		e.stepDone(t, 1)
		e.succeed(t)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if v := lastView(t, e.poster); v.State != "succeeded" {
			t.Errorf("last card state %q, want succeeded", v.State)
		}
		if r := e.poster.of("reply"); len(r) != 3 {
			t.Errorf("%d replies landed, want 3", len(r))
		}
	})
}

func TestNotifyDoesNotBlockOnASlowChat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		poster := &fakePoster{block: make(chan struct{})}
		e := newEnv(t, ctx, poster, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		done := make(chan struct{})
		go func() { e.n.Run(ctx); close(done) }()
		start := time.Now()
		for i := range 1000 {
			e.n.Notify(ctx, events.Event{Type: events.StepRetrying, RunID: "lab-1", StepID: "s00", Error: fmt.Sprint(i)})
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("Notify blocked for %s of fake time", took)
		}
		close(poster.block)
		time.Sleep(time.Minute)
		synctest.Wait()
		if r := poster.of("reply"); len(r) != 1000 {
			t.Errorf("%d replies, want 1000 (none lost)", len(r))
		}
		cancel()
		<-done
	})
}

func TestARestartedNotifierEditsTheSameCard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "bot.db")
		poster := &fakePoster{}
		ctx1, cancel1 := context.WithCancel(t.Context())
		e := newEnv(t, ctx1, poster, db)
		e.createRun(t)
		done := make(chan struct{})
		go func() { e.n.Run(ctx1); close(done) }()
		e.stepDone(t, 0)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		cancel1()
		<-done

		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		e2 := newEnv(t, ctx2, poster, db)
		go e2.n.Run(ctx2)
		e2.n.Notify(ctx2, events.Event{Type: events.RunResumed, RunID: "lab-1"})
		e2.stepDone(t, 1)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if p := poster.of("post"); len(p) != 1 {
			t.Fatalf("%d cards posted across the restart, want 1", len(p))
		}
		u := poster.of("update")
		if len(u) == 0 || u[len(u)-1].ref != poster.of("post")[0].ref {
			t.Fatalf("the restarted notifier did not edit the card: %+v", u)
		}
		if v := lastView(t, poster); v.Phases[0].Steps[1].Status != "done" {
			t.Errorf("step s01 is %s on the card", v.Phases[0].Steps[1].Status)
		}
	})
}

func TestAFailedStepOffersRetrySkipAbortInTheThread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := newEnv(t, ctx, &fakePoster{}, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		go e.n.Run(ctx)
		if err := e.st.PutStep(ctx, &store.StepState{RunID: "lab-1", StepID: "s00", Status: store.StepFailed, Error: "promote refused"}); err != nil {
			t.Fatal(err)
		}
		e.n.Notify(ctx, events.Event{Type: events.StepFailed, RunID: "lab-1", StepID: "s00", Error: "promote refused"})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		r := e.poster.of("reply")
		if len(r) != 1 {
			t.Fatalf("%d replies", len(r))
		}
		v, ok := r[0].msg.View.(*chat.StepFailedView)
		if !ok || v.RunID != "lab-1" || v.StepID != "s00" || v.Error != "promote refused" {
			t.Errorf("reply view = %+v", r[0].msg.View)
		}
		card := lastView(t, e.poster)
		if card.Phases[0].Status != "failed" || card.Current != "Main › step 0 (failed)" {
			t.Errorf("card = %+v", card)
		}
	})
}

func TestTheCardOfARunningRunIsRefreshed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := newEnv(t, ctx, &fakePoster{}, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		go e.n.Run(ctx)
		e.n.Notify(ctx, events.Event{Type: events.StepStarted, RunID: "lab-1", StepID: "s00"})
		time.Sleep(95 * time.Second) // a long step: no events
		synctest.Wait()
		u := e.poster.of("update")
		if len(u) != 3 {
			t.Fatalf("%d refreshes in 95 s, want 3 (every 30 s)", len(u))
		}
		if v := u[2].msg.View.(*chat.ProgressView); v.Elapsed < 90*time.Second {
			t.Errorf("elapsed on the card %s, want ≥ 90s", v.Elapsed)
		}
		// A paused run's card stays still.
		e.n.Notify(ctx, events.Event{Type: events.RunPaused, RunID: "lab-1"})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		n := len(e.poster.of("update"))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := len(e.poster.of("update")); got != n {
			t.Errorf("%d edits of a paused run's card in 5 min", got-n)
		}
	})
}

func TestFlushWaitsForTheCardToShowTheRunStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := newEnv(t, ctx, &fakePoster{}, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		go e.n.Run(ctx)
		e.stepDone(t, 0)
		// The run ends in the store; its event comes 3 s later.
		e.setState(t, store.RunSucceeded)
		late := make(chan struct{})
		go func() {
			defer close(late)
			time.Sleep(3 * time.Second)
			e.n.Notify(ctx, events.Event{Type: events.RunSucceeded, RunID: "lab-1"})
		}()
		if err := e.n.Flush(ctx, "lab-1"); err != nil {
			t.Fatal(err)
		}
		if v := lastView(t, e.poster); v.State != "succeeded" {
			t.Errorf("Flush returned before the card showed the end: %q", v.State)
		}
		<-late
	})
}

// Two replicas that both counted the approving reaction both open the
// card: only the one holding the run's lease posts it. The other's later
// events go in the thread of that card.
func TestOnlyTheReplicaHoldingTheLeasePostsTheCard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		poster := &fakePoster{}
		e := newEnv(t, ctx, poster, filepath.Join(t.TempDir(), "bot.db"))
		e.createRun(t)
		r, err := e.st.GetRun(ctx, "lab-1")
		if err != nil {
			t.Fatal(err)
		}
		r.Owner, r.LeaseUntil = "bot-c/1", time.Now().Add(time.Minute)
		if err := e.st.UpdateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		replica := func(self string) *Notifier {
			n, err := New(Options{Poster: poster, Store: e.st, Runbooks: func(string) (*runbook.Runbook, error) { return e.rb, nil },
				Self: func() string { return self }})
			if err != nil {
				t.Fatal(err)
			}
			go n.Run(ctx)
			return n
		}
		a, c := replica("bot-a/1"), replica("bot-c/1")
		if err := a.Open(ctx, "lab-1"); err != nil {
			t.Fatalf("Open on the replica without the lease: %v", err)
		}
		if p := poster.of("post"); len(p) != 0 {
			t.Fatalf("the replica without the lease posted %d cards", len(p))
		}
		if err := c.Open(ctx, "lab-1"); err != nil {
			t.Fatal(err)
		}
		// A /failover pause that the other replica handled.
		a.Notify(ctx, events.Event{Type: events.RunPaused, RunID: "lab-1", Runbook: "lab", Summary: "paused by oncall-2"})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		posts := poster.of("post")
		if len(posts) != 1 {
			t.Fatalf("%d cards posted by two replicas, want 1", len(posts))
		}
		replies := poster.of("reply")
		if len(replies) != 1 || replies[0].ref != posts[0].ref {
			t.Errorf("the other replica's event: replies %+v, want one in the thread of card %v", replies, posts[0].ref)
		}
	})
}
