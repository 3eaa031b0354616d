package kubernetes

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Limits of what kubernetes.logs puts in its summary (posted to the
// thread): the matching lines first, then the newest lines, at most
// maxLogLines lines of at most maxLogLine bytes; and at most maxLogPods
// pods are read.
const (
	maxLogLines = 200
	maxLogLine  = 300
	maxLogPods  = 10
)

// Logs is a kubernetes.logs probe.
type Logs struct {
	cfg     LogsConfig
	target  podTarget
	pattern *regexp.Regexp
	since   time.Duration
}

var (
	_ steps.Probe  = (*Logs)(nil)
	_ steps.Closer = (*Logs)(nil)
)

func newLogs(_ context.Context, cfg *LogsConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.logs", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	l := &Logs{cfg: *cfg, target: podTarget{c: c, t: cfg.PodTarget}, since: steps.ParseDuration(cfg.Since)}
	if cfg.FailPattern != "" {
		if l.pattern, err = regexp.Compile(cfg.FailPattern); err != nil {
			return nil, steps.Permanentf("kubernetes.logs: failPattern: %v", err)
		}
	}
	return l, nil
}

// podLog is the tail of one container's log.
type podLog struct {
	where   string
	lines   []string
	matches []string
}

// Check reads the last tail lines of each selected pod's container (`kubectl
// logs --tail`), one request per pod, and posts them in its summary. It
// is done unless failPattern matches a line. Outputs: lines (read),
// matches (lines matching failPattern).
func (l *Logs) Check(ctx context.Context) (steps.Result, error) {
	pods, err := l.target.pods(ctx, true)
	if err != nil {
		return steps.Result{}, err
	}
	skipped := 0
	if len(pods) > maxLogPods {
		skipped = len(pods) - maxLogPods
		pods = pods[:maxLogPods]
	}
	var logs []podLog
	total, matches := 0, 0
	for _, pod := range pods {
		pl, err := l.read(ctx, pod)
		if err != nil {
			return steps.Result{}, err
		}
		total += len(pl.lines)
		matches += len(pl.matches)
		logs = append(logs, pl)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines from %d pods", total, len(logs))
	if skipped > 0 {
		fmt.Fprintf(&b, " (%d more pods not read)", skipped)
	}
	if l.pattern != nil {
		fmt.Fprintf(&b, ", %d matching %s", matches, l.cfg.FailPattern)
	}
	budget := maxLogLines
	for _, pl := range logs {
		fmt.Fprintf(&b, "\n%s: %d lines", pl.where, len(pl.lines))
		show := append([]string{}, pl.matches...)
		if len(pl.matches) > 0 {
			b.WriteString(", matching:")
		}
		for _, line := range show {
			if budget == 0 {
				break
			}
			b.WriteString("\n  " + line)
			budget--
		}
		tail := pl.lines
		if n := min(budget, len(tail)); n < len(tail) {
			tail = tail[len(tail)-n:]
		}
		if len(pl.matches) == 0 && len(tail) > 0 {
			for _, line := range tail {
				b.WriteString("\n  " + line)
			}
			budget -= len(tail)
		}
	}
	if budget == 0 {
		b.WriteString("\n(more lines not shown: kubectl logs has them)")
	}
	out := map[string]string{"lines": strconv.Itoa(total), "matches": strconv.Itoa(matches)}
	return steps.Result{Done: matches == 0, Summary: b.String(), Outputs: out}, nil
}

func (l *Logs) read(ctx context.Context, pod *corev1.Pod) (podLog, error) {
	ctr, err := l.target.container(pod)
	if err != nil {
		return podLog{}, err
	}
	pl := podLog{where: fmt.Sprintf("%s/%s (%s)", pod.Namespace, pod.Name, ctr)}
	cs, err := l.target.c.clientset()
	if err != nil {
		return podLog{}, err
	}
	opts := &corev1.PodLogOptions{Container: ctr, TailLines: ptrTo(int64(l.cfg.Tail))}
	if l.since > 0 {
		opts.SinceSeconds = ptrTo(int64(l.since.Seconds()))
	}
	cctx, cancel := l.target.c.call(ctx)
	defer cancel()
	raw, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).DoRaw(cctx)
	if err != nil {
		return podLog{}, l.target.c.wrap(cctx, err, call{verb: "get", resource: "pods/log", namespace: pod.Namespace, name: pod.Name})
	}
	sc := bufio.NewScanner(strings.NewReader(l.target.c.red.Scrub(string(raw))))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > maxLogLine {
			line = line[:maxLogLine] + "…"
		}
		pl.lines = append(pl.lines, line)
		if l.pattern != nil && l.pattern.MatchString(sc.Text()) {
			pl.matches = append(pl.matches, line)
		}
	}
	return pl, nil
}

// Close releases the probe's connections.
func (l *Logs) Close() error {
	l.target.c.close()
	return nil
}
