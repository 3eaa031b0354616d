package stepstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type portConfig struct {
	Port int    `yaml:"port"`
	Mode string `yaml:"mode"`
}

func (c *portConfig) CheckAndSetDefaults() error {
	var e steps.FieldErrors
	if c.Port < 1 {
		e.Add("port", "must be ≥ 1, got %d", c.Port)
	}
	e.OneOf("mode", c.Mode, "a", "b")
	return e.Err()
}

func TestFieldErrorsListsEachMessageAndFlagsPlainErrors(t *testing.T) {
	if got := FieldErrors(t, nil); got != nil {
		t.Errorf("FieldErrors(nil) = %q, want nil", got)
	}
	r := &recorder{TB: t}
	err := errors.Join(steps.FieldErrorf("a", "is required"), errors.New("plain"))
	got := FieldErrors(r, err)
	if want := []string{"a: is required", "plain"}; !slices.Equal(got, want) {
		t.Errorf("FieldErrors = %q, want %q", got, want)
	}
	if len(r.errs) != 1 {
		t.Errorf("want one complaint about the plain error, got %q", r.errs)
	}
	if got := FieldErrors(r, steps.FieldErrorf("b", "bad")); !slices.Equal(got, []string{"b: bad"}) {
		t.Errorf("a single FieldError: got %q", got)
	}
}

func TestValidateDecodesStrictlyAndValidates(t *testing.T) {
	k := steps.DeclaredProbe[portConfig](steps.Spec{Name: "test.port"})
	if got := Validate(t, k, "{port: 80, mode: a}"); got != nil {
		t.Errorf("valid config: got %q", got)
	}
	want := []string{"port: must be ≥ 1, got 0", `mode: must be one of a, b, got "c"`}
	if got := Validate(t, k, "{mode: c}"); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// fatalRecorder records Fatalf and Fatal too, ending the goroutine as
// testing does; run the code under test with runFatal.
type fatalRecorder struct {
	recorder
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

// runFatal runs f(r) in its own goroutine and returns r's fatal message.
func runFatal(t *testing.T, f func(r *fatalRecorder)) string {
	r := &fatalRecorder{recorder: recorder{TB: t}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.fatal
}

// fakeProbe is done after doneAfter Checks once applied (a probe is
// "applied" from the start).
type fakeProbe struct {
	mu        sync.Mutex
	checks    int
	applied   bool
	doneAfter int
}

func (p *fakeProbe) Check(context.Context) (steps.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied {
		p.checks++
	}
	done := p.applied && p.checks >= p.doneAfter
	return steps.Result{Done: done, Summary: fmt.Sprintf("checks %d", p.checks)}, nil
}

// fakeStep's Apply fails with applyErrs first, then applies.
type fakeStep struct {
	fakeProbe
	applyErrs []error
	applies   int
}

func (s *fakeStep) Apply(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applies++
	if len(s.applyErrs) > 0 {
		err := s.applyErrs[0]
		s.applyErrs = s.applyErrs[1:]
		return err
	}
	s.applied = true
	return nil
}

func TestConvergeAppliesRetryingTransientErrorsThenWaitsForCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStep{fakeProbe: fakeProbe{doneAfter: 3}, applyErrs: []error{errors.New("timeout"), errors.New("timeout")}}
		res := Converge(t, s, time.Minute)
		if !res.Done || s.applies != 3 || s.checks != 3 {
			t.Errorf("Converge = %+v after %d applies and %d checks; want done after 3 and 3", res, s.applies, s.checks)
		}
	})
}

func TestConvergeOnlyPollsAProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProbe{applied: true, doneAfter: 4}
		if res := Converge(t, p, time.Minute); !res.Done || p.checks != 4 {
			t.Errorf("Converge = %+v after %d checks, want done after 4", res, p.checks)
		}
	})
}

func TestConvergeFailsOnAPermanentErrorAndAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		msg := runFatal(t, func(r *fatalRecorder) {
			Converge(r, &fakeStep{applyErrs: []error{steps.Permanentf("refused")}}, time.Minute)
		})
		if !strings.Contains(msg, "permanent error: refused") {
			t.Errorf("a permanent Apply error: fatal %q", msg)
		}
		msg = runFatal(t, func(r *fatalRecorder) { Converge(r, &fakeProbe{}, 2*time.Second) })
		if !strings.Contains(msg, "not done within 2s") {
			t.Errorf("a probe never done: fatal %q", msg)
		}
	})
}

func TestDeadPeers(t *testing.T) {
	if c, err := net.DialTimeout("tcp", RefusedAddr(t), time.Second); err == nil {
		c.Close()
		t.Error("RefusedAddr accepted a connection")
	}
	c, err := net.DialTimeout("tcp", BlackholeAddr(t), time.Second)
	if err != nil {
		t.Fatalf("BlackholeAddr refused: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("reading from the blackhole = %v, want a timeout", err)
	}
}

func TestNoSecretFindsTheSecretWhereverItIs(t *testing.T) {
	const pw = "hunter2-pw"
	r := &recorder{TB: t}
	NoSecret(r, pw, steps.Result{Summary: "ok", Outputs: map[string]string{"dsn": "postgres://u:x@h"}}, errors.New("connect: refused"))
	if len(r.errs) != 0 {
		t.Errorf("a clean result: %q", r.errs)
	}
	NoSecret(r, pw, steps.Result{Summary: "login " + pw, Outputs: map[string]string{"dsn": "postgres://u:" + pw + "@h"}}, errors.New("auth "+pw))
	if len(r.errs) != 3 {
		t.Errorf("a leak in summary, output and error: got %d complaints %q, want 3", len(r.errs), r.errs)
	}
}
