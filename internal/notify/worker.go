package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/store"
)

// item is one notification waiting in a queue.
type item struct {
	n Notification
	// logged: the delivery log has its queued row.
	logged bool
	// redelivery: an earlier process (or attempt) may have sent it.
	redelivery bool
	// attempts made before this process took it.
	attempts int
}

// queue is one run's notifications for one target, delivered in order by
// one worker at a time.
type queue struct {
	p     *Pipeline
	rs    *runState
	t     Target
	state *state

	// guarded by Pipeline.mu
	items   []*item
	running bool
	// failing: the head notification failed and is being retried.
	failing bool
	// what was said in the thread already (each at most once a run)
	saidFailing, saidRecovered, saidRefused, saidGaveUp bool
	wake                                                chan struct{}
}

func (q *queue) wakeLocked() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (p *Pipeline) enqueue(q *queue, it *item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q.items = append(q.items, it)
	p.startLocked(q)
}

// startLocked starts the queue's worker if Run runs and it has none.
func (p *Pipeline) startLocked(q *queue) {
	if p.wctx == nil || q.running || len(q.items) == 0 || p.wctx.Err() != nil {
		return
	}
	q.running = true
	p.wg.Add(1)
	go p.work(p.wctx, q)
}

func (p *Pipeline) work(ctx context.Context, q *queue) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(q.items) == 0 || ctx.Err() != nil {
			q.running = false
			p.mu.Unlock()
			return
		}
		it, pending := q.items[0], len(q.items)-1
		p.mu.Unlock()
		done := p.deliver(ctx, q, it, pending)
		p.mu.Lock()
		if !done { // stopping: it stays queued in the log for the next process
			q.running = false
			p.mu.Unlock()
			return
		}
		q.items = q.items[1:]
		p.mu.Unlock()
	}
}

// deliver is the retry loop of one notification (Alertmanager's
// RetryStage): the context is checked first, failures worth retrying are
// retried with exponential backoff and jitter (at least the Retry-After the
// remote side asked for), a failure is logged when it differs from the one
// before, and the last error is wrapped with the number of attempts. It
// returns false when the pipeline stops before the notification is
// settled (it stays queued in the log).
func (p *Pipeline) deliver(ctx context.Context, q *queue, it *item, pending int) bool {
	log := p.log.With("run", q.rs.id, "notifier", q.t.Name, "key", it.n.Key, "event", string(it.n.Event.Type))
	var last error
	backoff := p.o.MinBackoff
	q.state.load(ctx)
	for attempt := it.attempts + 1; ; attempt++ {
		// Always check the context first, so as not to notify again.
		if ctx.Err() != nil {
			return false
		}
		if last != nil && p.pastStop(q.rs) {
			err := fmt.Errorf("%s: gave up after %d attempts, the run having ended: %w", q.t.Name, attempt-1, last)
			p.settle(ctx, log, q, it, store.DeliveryFailed, attempt-1, err)
			p.say(q, &q.saidGaveUp, fmt.Sprintf("%s: gave up on this run's notifications %s after its end: %s",
				title(q.t.Name), p.o.EndGrace, p.scrub(last.Error())))
			return true
		}
		n := it.n
		n.Attempt, n.Pending, n.State = attempt, pending, q.state
		n.Redelivery = it.redelivery || attempt > it.attempts+1
		p.fillThread(ctx, q.rs, &n)
		retry, err := p.call(ctx, q.t, &n)
		if err == nil {
			p.settle(ctx, log, q, it, store.DeliveryDelivered, attempt, nil)
			p.mu.Lock()
			was := q.failing
			q.failing = false
			p.mu.Unlock()
			if was {
				log.InfoContext(ctx, "notification delivered after failures", "attempts", attempt)
				p.sayOK(q, &q.saidRecovered, fmt.Sprintf("%s: notifications go through again.", title(q.t.Name)))
			}
			return true
		}
		if p.o.Observer != nil {
			p.o.Observer.AttemptFailed(q.t.Name, retry)
		}
		if !retry {
			err = fmt.Errorf("%s: not retried, unrecoverable error after %d attempts: %w", q.t.Name, attempt, err)
			p.settle(ctx, log, q, it, store.DeliveryFailed, attempt, err)
			p.mu.Lock()
			q.failing = false
			p.mu.Unlock()
			p.say(q, &q.saidRefused, fmt.Sprintf("%s: a notification was refused and is not retried: %s",
				title(q.t.Name), p.scrub(err.Error())))
			return true
		}
		if last == nil || err.Error() != last.Error() {
			log.WarnContext(ctx, "notification failed; will retry", "attempts", attempt, "err", p.scrub(err.Error()))
		}
		last = err
		// A rate limit (the remote side said when to come back) is being
		// slowed down, not failing, for its first few attempts.
		failing := RetryAfterOf(err) == 0 || attempt-it.attempts >= rateLimitedAttempts
		p.mu.Lock()
		first := failing && !q.failing
		q.failing = q.failing || failing
		draining := p.draining
		p.mu.Unlock()
		if first {
			p.say(q, &q.saidFailing, fmt.Sprintf("%s: a notification did not go through (%s). It is retried in the background; the run is not affected.",
				title(q.t.Name), p.scrub(err.Error())))
		}
		if draining {
			return false
		}
		wait := p.jitter(backoff)
		backoff = min(2*backoff, p.o.MaxBackoff)
		if ra := RetryAfterOf(err); ra > wait {
			wait = ra
		}
		if !p.sleep(ctx, q, wait) {
			return false
		}
	}
}

// rateLimitedAttempts is how many attempts answered "come back later" a
// notification makes before its notifier counts as failing (said in the
// thread; Flush stops waiting for it).
const rateLimitedAttempts = 3

// call makes one attempt under CallTimeout; a panicking notifier is an
// error, not a crash.
func (p *Pipeline) call(ctx context.Context, t Target, n *Notification) (retry bool, err error) {
	cause := fmt.Errorf("%s: no answer within the %s call timeout: %w", t.Name, p.o.CallTimeout, context.DeadlineExceeded)
	cctx, cancel := context.WithTimeoutCause(ctx, p.o.CallTimeout, cause)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			retry, err = false, fmt.Errorf("%s panicked: %v", t.Name, r)
		}
	}()
	retry, err = t.Notifier.Notify(cctx, n)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), cause) {
		retry = true // our deadline fired, whatever the notifier made of it
		if !strings.Contains(err.Error(), cause.Error()) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	return retry, err
}

// jitter spreads d over [d/2, d).
func (p *Pipeline) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(p.o.Jitter()*float64(d/2))
}

func (p *Pipeline) pastStop(rs *runState) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !rs.stopAt.IsZero() && !p.o.Now().Before(rs.stopAt)
}

// sleep waits d, or less when the run's stop time comes first; Finish and
// the drain wake it early. It returns false when ctx is done.
func (p *Pipeline) sleep(ctx context.Context, q *queue, d time.Duration) bool {
	p.mu.Lock()
	if stop := q.rs.stopAt; !stop.IsZero() {
		d = min(d, max(stop.Sub(p.o.Now()), 0))
	}
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-q.wake:
	case <-ctx.Done():
		return false
	}
	return true
}

// settle records a notification's outcome in the log.
func (p *Pipeline) settle(ctx context.Context, log *slog.Logger, q *queue, it *item, status store.DeliveryStatus, attempts int, err error) {
	msg := ""
	if err != nil {
		msg = p.scrub(err.Error())
		log.ErrorContext(ctx, "notification given up", "attempts", attempts, "err", msg)
	}
	if p.o.Observer != nil {
		p.o.Observer.Settled(q.t.Name, status)
	}
	if !it.logged {
		return
	}
	sctx, cancel := p.storeCtx(ctx)
	defer cancel()
	if ferr := p.o.Log.FinishDelivery(sctx, q.rs.id, q.t.Name, it.n.Key, status, attempts, msg); ferr != nil {
		log.ErrorContext(ctx, "delivery log: record the outcome (a restarted bot may send it again)", "status", status, "err", ferr)
	}
}

// fillThread sets the run's thread (its card, else its approval message)
// and the thread's permalink.
func (p *Pipeline) fillThread(ctx context.Context, rs *runState, n *Notification) {
	p.mu.Lock()
	run := rs.run
	p.mu.Unlock()
	if run.Card.TS == "" {
		sctx, cancel := p.storeCtx(ctx)
		if r, err := p.o.Runs.GetRun(sctx, rs.id); err == nil {
			run = r
			p.mu.Lock()
			rs.run = r
			p.mu.Unlock()
		}
		cancel()
	}
	ref := chat.MessageRef(run.Card)
	if ref.TS == "" {
		ref = chat.MessageRef(run.ApprovalMsg)
	}
	n.Run.Thread = ref
	if n.Run.StartedAt.IsZero() {
		n.Run.StartedAt = run.StartedAt
	}
	if ref.TS == "" {
		return
	}
	p.mu.Lock()
	link, ok := rs.links[ref]
	p.mu.Unlock()
	if !ok {
		pl, can := p.o.Poster.(chat.Permalinker)
		if !can {
			return
		}
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		l, err := pl.Permalink(lctx, ref)
		cancel()
		if err != nil {
			p.log.DebugContext(ctx, "permalink of the run's thread", "run", rs.id, "err", err)
			return
		}
		link = l
		p.mu.Lock()
		rs.links[ref] = link
		p.mu.Unlock()
	}
	n.Run.Link = link
}

// say reports a failure in the run's thread once (*said guards it); a
// quiet target's news is only logged.
func (p *Pipeline) say(q *queue, said *bool, text string) { p.sayOnce(q, said, text, true) }

// sayOK is say for good news.
func (p *Pipeline) sayOK(q *queue, said *bool, text string) { p.sayOnce(q, said, text, false) }

func (p *Pipeline) sayOnce(q *queue, said *bool, text string, warning bool) {
	p.mu.Lock()
	already := *said
	*said = true
	p.mu.Unlock()
	if already || q.t.Quiet {
		return
	}
	p.report(q.rs, text, warning)
}

// reportAsync posts a warning in the run's thread without holding up the
// caller.
func (p *Pipeline) reportAsync(rs *runState, text string) { p.report(rs, text, true) }

func (p *Pipeline) report(rs *runState, text string, warning bool) {
	p.mu.Lock()
	ctx := p.wctx
	p.mu.Unlock()
	if p.o.Poster == nil || ctx == nil || ctx.Err() != nil {
		p.log.Info("notification news (not posted)", "run", rs.id, "text", text)
		return
	}
	p.wg.Go(func() {
		cctx, cancel := context.WithTimeout(ctx, p.o.CallTimeout)
		defer cancel()
		var n Notification
		p.fillThread(cctx, rs, &n)
		if n.Run.Thread.TS == "" {
			p.log.InfoContext(ctx, "notification news (the run has no thread yet)", "run", rs.id, "text", text)
			return
		}
		m := chat.Message{View: &chat.NoticeView{Text: text, Warning: warning}}
		if _, err := p.o.Poster.Reply(cctx, n.Run.Thread, m); err != nil {
			p.log.WarnContext(ctx, "report in the run's thread", "run", rs.id, "err", err, "text", text)
		}
	})
}

// title names a notifier for people.
func title(name string) string {
	switch name {
	case "statuspage":
		return "Status page"
	case "pagerduty":
		return "PagerDuty"
	case "stakeholders":
		return "Stakeholder updates"
	case "card":
		return "Progress card"
	case "report":
		return "The run's report"
	}
	return name
}

// state is a notifier's durable memory of a run, read once per process.
type state struct {
	p               *Pipeline
	runID, notifier string

	mu     sync.Mutex
	loaded bool
	vals   map[string]string
}

var _ State = (*state)(nil)

func (s *state) load(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return
	}
	sctx, cancel := s.p.storeCtx(ctx)
	defer cancel()
	vals, err := s.p.o.Log.NotifierState(sctx, s.runID, s.notifier)
	if err != nil {
		s.p.log.WarnContext(ctx, "read notifier state", "run", s.runID, "notifier", s.notifier, "err", err)
		if s.vals == nil {
			s.vals = map[string]string{}
		}
		return
	}
	for k, v := range s.vals { // set before the load failed: keep
		vals[k] = v
	}
	s.vals, s.loaded = vals, true
}

// Get returns a stored value ("" when none).
func (s *state) Get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vals[key]
}

// Set stores a value in the log at once.
func (s *state) Set(ctx context.Context, key, value string) error {
	sctx, cancel := s.p.storeCtx(ctx)
	defer cancel()
	if err := s.p.o.Log.SetNotifierState(sctx, s.runID, s.notifier, key, value); err != nil {
		return fmt.Errorf("store %s's %s for run %s: %w", s.notifier, key, s.runID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals = map[string]string{}
	}
	s.vals[key] = value
	return nil
}
