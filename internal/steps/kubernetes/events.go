package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Events is a kubernetes.events probe.
type Events struct {
	cfg   EventsConfig
	c     *cluster
	since time.Duration
	now   func() time.Time
}

var (
	_ steps.Probe  = (*Events)(nil)
	_ steps.Closer = (*Events)(nil)
)

func newEvents(_ context.Context, cfg *EventsConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.events", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &Events{cfg: *cfg, c: c, since: steps.ParseDuration(cfg.Since), now: time.Now}, nil
}

// eventTime is when an event was last seen.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// Check lists the events (one request: `kubectl get events
// --sort-by=.lastTimestamp`), newest last, and posts the newest limit of
// them in its summary, one a line. It is done unless maxWarnings is set
// and more Warning events than that were seen. Output: warnings.
func (e *Events) Check(ctx context.Context) (steps.Result, error) {
	cs, err := e.c.clientset()
	if err != nil {
		return steps.Result{}, err
	}
	cctx, cancel := e.c.call(ctx)
	defer cancel()
	opts := metav1.ListOptions{FieldSelector: e.cfg.FieldSelector}
	if e.cfg.Type != "" {
		opts.FieldSelector = joinSelector(opts.FieldSelector, "type="+e.cfg.Type)
	}
	list, err := cs.CoreV1().Events(e.cfg.Namespace).List(cctx, opts)
	if err != nil {
		return steps.Result{}, e.c.wrap(cctx, err, call{verb: "list", resource: "events", namespace: e.cfg.Namespace})
	}
	var evs []*corev1.Event
	for i := range list.Items {
		ev := &list.Items[i]
		if e.since > 0 && e.now().Sub(eventTime(ev)) > e.since {
			continue
		}
		evs = append(evs, ev)
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	warnings := 0
	for _, ev := range evs {
		if ev.Type == corev1.EventTypeWarning {
			warnings++
		}
	}
	shown := evs
	if len(shown) > e.cfg.Limit {
		shown = shown[len(shown)-e.cfg.Limit:]
	}
	where := "in every namespace"
	if e.cfg.Namespace != "" {
		where = "in " + e.cfg.Namespace
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d events %s (%d warnings)", len(evs), where, warnings)
	if len(shown) < len(evs) {
		fmt.Fprintf(&b, ", the newest %d:", len(shown))
	}
	for _, ev := range shown {
		obj := strings.ToLower(ev.InvolvedObject.Kind) + "/" + ev.InvolvedObject.Name
		if e.cfg.Namespace == "" && ev.InvolvedObject.Namespace != "" {
			obj = ev.InvolvedObject.Namespace + "/" + obj
		}
		line := fmt.Sprintf("\n%s %s %s %s: %s", eventTime(ev).UTC().Format("15:04:05Z"), ev.Type, ev.Reason, obj, strings.TrimSpace(ev.Message))
		if ev.Count > 1 {
			line += fmt.Sprintf(" (×%d)", ev.Count)
		}
		b.WriteString(line)
	}
	done := true
	if e.cfg.MaxWarnings != nil && warnings > *e.cfg.MaxWarnings {
		done = false
		fmt.Fprintf(&b, "\nmore than %d warnings", *e.cfg.MaxWarnings)
	}
	return steps.Result{Done: done, Summary: b.String(), Outputs: map[string]string{"warnings": strconv.Itoa(warnings)}}, nil
}

func joinSelector(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// Close releases the probe's connections.
func (e *Events) Close() error {
	e.c.close()
	return nil
}
