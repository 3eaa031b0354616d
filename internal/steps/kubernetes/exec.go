package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// maxOutput is how much of a command's standard output (and error) is
// kept: the output is shown in the thread and may be an output.
const maxOutput = 4 << 10

// podTarget finds the pod (and container) a command runs in or logs are
// read from.
type podTarget struct {
	c *cluster
	t PodTarget
}

// pods are the target's pods: the named one (a missing pod is a
// permanent error), or those the selector matches that are Running and
// Ready, by name (none: a transient error, pods may be starting).
func (p podTarget) pods(ctx context.Context, all bool) ([]*corev1.Pod, error) {
	sel := selection{gvr: gvrPods, namespace: p.t.Namespace, name: p.t.Pod, selector: p.t.Selector}
	objs, err := p.c.fetch(ctx, sel)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, u := range objs {
		pod, err := typed[corev1.Pod](u)
		if err != nil {
			return nil, err
		}
		if p.t.Pod == "" && (!podReady(pod) || pod.DeletionTimestamp != nil) {
			continue
		}
		out = append(out, pod)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Running, Ready pod in %s matches %s on %s", p.c.kind, p.t.Namespace, p.t.Selector, p.c.conn)
	}
	if !all {
		out = out[:1]
	}
	return out, nil
}

// container is the target's container in pod (default its first); one
// the pod does not have is a permanent error.
func (p podTarget) container(pod *corev1.Pod) (string, error) {
	if p.t.Container == "" {
		return pod.Spec.Containers[0].Name, nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == p.t.Container {
			return c.Name, nil
		}
	}
	return "", steps.Permanentf("%s: pod %s/%s has no container %s", p.c.kind, pod.Namespace, pod.Name, p.t.Container)
}

// result is what a command did.
type result struct {
	where          string // "mimir/postgres-0 (postgres)"
	stdout, stderr string
	code           int
}

func (r result) output() string { return strings.TrimSpace(r.stdout) }

// run runs argv in the target's pod (pods/exec, the API server's exec
// endpoint, as kubectl exec), within timeout if set, else the step's
// deadline. A non-zero exit is a result, not an error.
func (p podTarget) run(ctx context.Context, argv []string, timeout time.Duration) (result, error) {
	pods, err := p.pods(ctx, false)
	if err != nil {
		return result{}, err
	}
	pod := pods[0]
	ctr, err := p.container(pod)
	if err != nil {
		return result{}, err
	}
	res := result{where: fmt.Sprintf("%s/%s (%s)", pod.Namespace, pod.Name, ctr)}
	cs, err := p.c.clientset()
	if err != nil {
		return result{}, err
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: ctr, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := p.executor(req.URL())
	if err != nil {
		return result{}, steps.Permanentf("%s: exec in %s: %v", p.c.kind, res.where, err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%s did not finish within %s", argv[0], timeout))
		defer cancel()
	}
	var stdout, stderr capped
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	// What the command printed may echo a secret of the run (a DSN).
	res.stdout, res.stderr = p.c.red.Scrub(stdout.String()), p.c.red.Scrub(stderr.String())
	var exit utilexec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitStatus()
	default:
		// A refused upgrade carries the API server's status (forbidden,
		// not found): classify that.
		var up *httpstream.UpgradeFailureError
		if errors.As(err, &up) && up.Cause != nil {
			err = up.Cause
		}
		// RBAC: exec over WebSockets needs get and create on pods/exec.
		return res, p.c.wrap(ctx, err, call{verb: "get and create", resource: "pods/exec", namespace: pod.Namespace, name: pod.Name})
	}
	return res, nil
}

// executor streams over WebSockets, as kubectl does, and falls back to
// SPDY when the upgrade fails for a reason other than the API server's
// refusal (an older API server, a proxy).
func (p podTarget) executor(u *url.URL) (remotecommand.Executor, error) {
	cfg := p.c.config()
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		var up *httpstream.UpgradeFailureError
		if !errors.As(err, &up) {
			return httpstream.IsHTTPSProxyError(err)
		}
		var st apierrors.APIStatus
		return !errors.As(up.Cause, &st)
	})
}

// capped keeps the first maxOutput bytes written to it.
type capped struct {
	b   strings.Builder
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.b.Len(); room > 0 {
		if len(p) > room {
			c.b.Write(p[:room])
			c.cut = true
		} else {
			c.b.Write(p)
		}
	} else if len(p) > 0 {
		c.cut = true
	}
	return len(p), nil
}

func (c *capped) String() string {
	if c.cut {
		return c.b.String() + "…"
	}
	return c.b.String()
}

// holds says whether a probe's command result meets it, and why not.
func (e ExecProbe) holds(r result) (bool, string) {
	switch {
	case r.code != 0:
		msg := fmt.Sprintf("exit %d", r.code)
		if last := lastLine(r.stderr); last != "" {
			msg += ": " + last
		}
		return false, msg
	case e.Output != "" && r.output() != e.Output:
		return false, fmt.Sprintf("output %q, want %q", short1(r.output()), e.Output)
	case e.OutputContains != "" && !strings.Contains(r.stdout, e.OutputContains):
		return false, fmt.Sprintf("output %q does not contain %q", short1(r.output()), e.OutputContains)
	}
	return true, fmt.Sprintf("exit 0, output %q", short1(r.output()))
}

// short1 is the first line of s, at most 80 characters.
func short1(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return short1(lines[len(lines)-1])
}

func argvString(argv []string) string {
	s := strings.Join(argv, " ")
	if len(s) > 100 {
		s = s[:97] + "…"
	}
	return s
}

// ExecCheck is a kubernetes.execCheck probe.
type ExecCheck struct {
	cfg     ExecCheckConfig
	target  podTarget
	timeout time.Duration
}

var (
	_ steps.Probe  = (*ExecCheck)(nil)
	_ steps.Closer = (*ExecCheck)(nil)
)

func newExecCheck(_ context.Context, cfg *ExecCheckConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.execCheck", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &ExecCheck{cfg: *cfg, target: podTarget{c: c, t: cfg.PodTarget}, timeout: steps.ParseDuration(cfg.CommandTimeout)}, nil
}

// Check runs the command and is done when it exits 0 with the expected
// output. Output: output (trimmed standard output, at most 4 KiB).
func (e *ExecCheck) Check(ctx context.Context) (steps.Result, error) {
	r, err := e.target.run(ctx, e.cfg.Command, e.timeout)
	if err != nil {
		return steps.Result{}, err
	}
	ok, why := e.cfg.ExecProbe.holds(r)
	return steps.Result{Done: ok, Summary: e.target.c.red.Scrub(fmt.Sprintf("%s in %s: %s", argvString(e.cfg.Command), r.where, why)),
		Outputs: map[string]string{"output": r.output()}}, nil
}

// Close releases the probe's connections.
func (e *ExecCheck) Close() error {
	e.target.c.close()
	return nil
}

// Exec is a kubernetes.exec step.
type Exec struct {
	cfg     ExecConfig
	target  podTarget
	timeout time.Duration
}

var (
	_ steps.Step   = (*Exec)(nil)
	_ steps.Closer = (*Exec)(nil)
)

func newExec(_ context.Context, cfg *ExecConfig, env steps.Env) (steps.Step, error) {
	c, err := newCluster("kubernetes.exec", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &Exec{cfg: *cfg, target: podTarget{c: c, t: cfg.PodTarget}, timeout: steps.ParseDuration(cfg.CommandTimeout)}, nil
}

// Check runs the check command: done when it holds. Output: output (the
// check's trimmed standard output).
func (e *Exec) Check(ctx context.Context) (steps.Result, error) {
	r, err := e.target.run(ctx, e.cfg.Check.Command, e.timeout)
	if err != nil {
		return steps.Result{}, err
	}
	ok, why := e.cfg.Check.holds(r)
	return steps.Result{Done: ok, Summary: e.target.c.red.Scrub(fmt.Sprintf("check %s in %s: %s", argvString(e.cfg.Check.Command), r.where, why)),
		Outputs: map[string]string{"output": r.output()}}, nil
}

// Apply runs the command unless the check already holds (a crash after
// the command, then Apply again, does not run it twice). A command that
// exits non-zero is a permanent error with the end of its standard error.
func (e *Exec) Apply(ctx context.Context) error {
	r, err := e.target.run(ctx, e.cfg.Check.Command, e.timeout)
	if err != nil {
		return err
	}
	if ok, _ := e.cfg.Check.holds(r); ok {
		return nil
	}
	e.target.c.log.InfoContext(ctx, "running a command in a pod", "connection", e.target.c.conn, "pod", r.where, "command", argvString(e.cfg.Command))
	r, err = e.target.run(ctx, e.cfg.Command, e.timeout)
	if err != nil {
		return err
	}
	if r.code != 0 {
		msg := fmt.Sprintf("kubernetes.exec: %s in %s exited %d", argvString(e.cfg.Command), r.where, r.code)
		if last := lastLine(r.stderr); last != "" {
			msg += ": " + last
		}
		return steps.Permanent(errors.New(e.target.c.red.Scrub(msg)))
	}
	return nil
}

// Close releases the step's connections.
func (e *Exec) Close() error {
	e.target.c.close()
	return nil
}
