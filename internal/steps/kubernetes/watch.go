package kubernetes

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// waitWindow is the longest a waiting Check holds on its watch before it
// answers "not done yet" with the latest observation, so that the run's
// card shows progress; it answers as soon as the condition holds.
const waitWindow = 10 * time.Second

// How waiting works. The executor polls Check after Apply (and polls a
// probe until it is done). A kind's first Check of an instance asks the
// API server directly (one GET or LIST): that is all a dry run or an
// assessment does. Once the instance waits (after its Apply, or after a
// Check that said not done), its Checks read a cache fed by one LIST and
// one WATCH that live as long as the instance (client-go's reflector,
// which re-lists and re-watches by itself, as tools/watch.UntilWithSync
// does), and hold until the condition holds or waitWindow passes. So a
// wait costs a handful of requests whatever its length, and is over the
// moment the watch delivers the change. A LIST or WATCH that fails makes
// the waiting Check fail with that error (transient when the API server
// is unreachable) until a LIST or WATCH succeeds again.

// selection is what a watched cache holds: objects of one resource, in a
// namespace (or cluster-wide), by name or selector.
type selection struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string // a field selector on metadata.name
	selector  string // a label selector
}

func (s selection) options(o *metav1.ListOptions) {
	o.LabelSelector = s.selector
	if s.name != "" {
		o.FieldSelector = "metadata.name=" + s.name
	}
}

// watched is a watch-fed cache of a selection.
type watched struct {
	store   cache.Store
	ctrl    cache.Controller
	cancel  context.CancelFunc
	stopped chan struct{}
	changed chan struct{} // poked (never blocking) on every event and error

	mu  sync.Mutex
	err error // the last failed LIST or WATCH; nil after one succeeds
}

// listWatch is a cache.ListWatch that says it does not support watch-list
// semantics, so that the reflector LISTs (and the LIST tells when the
// cache is fresh again after an outage).
type listWatch struct{ cache.ListWatch }

func (listWatch) IsWatchListSemanticsUnSupported() bool { return true }

// watch starts a watched cache of sel; the caller stops it.
func (c *cluster) watch(sel selection) (*watched, error) {
	dyn, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	var ri = dyn.Resource(sel.gvr).Namespace(sel.namespace)
	// The reflector's own complaints (a failed LIST while the API server
	// is down) would go to klog's global stderr, unscrubbed: the waiting
	// Check reports them instead.
	quiet := logr.Discard()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), quiet))
	w := &watched{cancel: cancel, stopped: make(chan struct{}), changed: make(chan struct{}, 1)}
	lw := &listWatch{cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			sel.options(&o)
			cctx, cancel := c.call(ctx)
			defer cancel()
			l, err := ri.List(cctx, o)
			if err != nil {
				err = c.wrap(cctx, err, call{verb: "list", resource: sel.gvr.GroupResource().String(), namespace: sel.namespace, name: sel.name})
			}
			w.setErr(err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			sel.options(&o)
			// The watch lives on, but opening it is bounded: a hung API
			// server must not hold the reflector (nor hide its failure).
			wctx, wcancel := context.WithCancelCause(ctx)
			t := time.AfterFunc(c.timeout, func() { wcancel(errNoWatch(c)) })
			wi, err := ri.Watch(wctx, o)
			if !t.Stop() || err != nil {
				if err == nil {
					wi.Stop()
					err = context.Cause(wctx)
				}
				// Classified before the context is released: a canceled
				// context would hide the API server's own error.
				err = c.wrap(wctx, err, call{verb: "watch", resource: sel.gvr.GroupResource().String(), namespace: sel.namespace, name: sel.name})
				wcancel(nil)
				w.setErr(err)
				return nil, err
			}
			// The watch goes on from the cache's resource version (the
			// reflector retries a refused watch without a LIST), so
			// the cache is current again: the outage is over.
			w.setErr(nil)
			return &stopWatch{Interface: wi, cancel: func() { wcancel(nil) }}, nil
		},
	}}
	poke := func(any) { w.poke() }
	w.store, w.ctrl = cache.NewInformerWithOptions(cache.InformerOptions{
		Logger:        &quiet,
		ListerWatcher: lw,
		ObjectType:    &unstructured.Unstructured{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: poke, DeleteFunc: poke,
			UpdateFunc: func(_, _ any) { w.poke() },
		},
	})
	go func() {
		defer close(w.stopped)
		w.ctrl.RunWithContext(ctx)
	}()
	// An empty first LIST delivers no event: say when the cache is synced.
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), w.ctrl.HasSynced) {
			w.poke()
		}
	}()
	return w, nil
}

func errNoWatch(c *cluster) error {
	return &timeoutError{msg: "no answer to a watch from the API server of " + c.conn + " (" + c.cfg.Host + ") within " + c.timeout.String()}
}

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// stopWatch also releases the watch's context when stopped.
type stopWatch struct {
	watch.Interface
	cancel func()
}

func (s *stopWatch) Stop() {
	s.Interface.Stop()
	s.cancel()
}

func (w *watched) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watched) setErr(err error) {
	w.mu.Lock()
	changed := (w.err == nil) != (err == nil)
	w.err = err
	w.mu.Unlock()
	if err != nil || changed {
		w.poke()
	}
}

func (w *watched) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// objects are the cached objects, sorted by namespace and name.
func (w *watched) objects() []*unstructured.Unstructured {
	list := w.store.List()
	out := make([]*unstructured.Unstructured, 0, len(list))
	for _, o := range list {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	sortObjects(out)
	return out
}

func sortObjects(objs []*unstructured.Unstructured) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

// stop ends the watch and waits for the reflector to return.
func (w *watched) stop() {
	w.cancel()
	<-w.stopped
}

// evaluator turns the observed objects into a Check's result.
type evaluator func(objs []*unstructured.Unstructured) (steps.Result, error)

// await holds until eval says done, the watch fails, waitWindow passes or
// ctx is about to end; it returns the latest observation. A watch that
// fails is the Check's error.
func (w *watched) await(ctx context.Context, eval evaluator) (steps.Result, error) {
	until := time.Now().Add(waitWindow)
	if d, ok := ctx.Deadline(); ok {
		// Answer a little before the step's deadline, so that the last
		// observation is what the step's failure says.
		margin := min(time.Second, time.Until(d)/10)
		if end := d.Add(-margin); end.Before(until) {
			until = end
		}
	}
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	var last steps.Result
	seen := false
	for {
		if err := w.failure(); err != nil {
			return steps.Result{}, err
		}
		if w.ctrl.HasSynced() {
			res, err := eval(w.objects())
			if err != nil || res.Done {
				return res, err
			}
			last, seen = res, true
		}
		select {
		case <-w.changed:
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		if !seen {
			return steps.Result{}, &timeoutError{msg: "the watch has not delivered the objects yet"}
		}
		return last, nil
	}
}

// waiter is the waiting state of one instance: whether its Checks wait on
// a watch, and the watch. A step's Checks wait once it has applied; a
// probe's (probe set) once a Check said not done. So a step checked
// again before its Apply (after a failed Apply, say) is not held.
type waiter struct {
	probe   bool
	mu      sync.Mutex
	waiting bool
	w       *watched
	closed  bool
}

// arm makes the next Checks wait (after Apply, or after a Check that said
// not done).
func (wt *waiter) arm() {
	wt.mu.Lock()
	wt.waiting = true
	wt.mu.Unlock()
}

// cache returns the watch of sel when the instance waits (starting it on
// first use), nil when it does not.
func (wt *waiter) cache(c *cluster, sel selection) (*watched, error) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if !wt.waiting || wt.closed {
		return nil, nil
	}
	if wt.w == nil {
		w, err := c.watch(sel)
		if err != nil {
			return nil, err
		}
		wt.w = w
	}
	return wt.w, nil
}

// close stops the watch.
func (wt *waiter) close() {
	wt.mu.Lock()
	w := wt.w
	wt.w, wt.closed = nil, true
	wt.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// observe is the Check of a kind that waits: from the watch when the
// instance waits, else from direct (a GET or LIST) — and, for a probe, a
// direct observation that is not done arms the waiter.
func (wt *waiter) observe(ctx context.Context, c *cluster, sel selection, direct func(ctx context.Context) ([]*unstructured.Unstructured, error), eval evaluator) (steps.Result, error) {
	w, err := wt.cache(c, sel)
	if err != nil {
		return steps.Result{}, err
	}
	if w != nil {
		return w.await(ctx, eval)
	}
	objs, err := direct(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	res, err := eval(objs)
	if err == nil && !res.Done && wt.probe {
		wt.arm()
	}
	return res, err
}
