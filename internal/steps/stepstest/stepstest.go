// Package stepstest is the test plumbing shared by the step-kind packages:
// decoding and checking a kind's config as the runbook loader does,
// building and checking an instance, converging it as the executor does,
// dead peers (refused, blackholed) and the secret-leak assertion. See
// internal/steps/README.md for what every kind's tests cover.
package stepstest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// FieldErrors lists the messages of a (joined) CheckAndSetDefaults error, nil for nil,
// and fails the test for each that is not a *steps.FieldError (the loader
// places those at their line).
func FieldErrors(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var out []string
	for _, e := range list {
		var fe *steps.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is a %T, not a *steps.FieldError", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

// Validate decodes the YAML with strictly (unknown keys are errors, as in
// the loader) into a new config of k, calls its CheckAndSetDefaults and
// returns the field error messages (nil: valid). A decode error fails the
// test.
func Validate(t testing.TB, k steps.Kind, with string) []string {
	t.Helper()
	cfg := k.NewConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(with))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return FieldErrors(t, cfg.CheckAndSetDefaults())
}

// Build checks cfg like the loader (CheckAndSetDefaults) and builds the
// kind named kind, registered by register, on connection c. An instance
// that is a steps.Closer is closed when the test ends.
func Build(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) steps.Probe {
	t.Helper()
	_, p := build(t, register, kind, cfg, c)
	return p
}

// BuildStep is Build for a kind that changes something: it fails the test
// if the kind is read-only or its instance is not a steps.Step.
func BuildStep(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) steps.Step {
	t.Helper()
	k, p := build(t, register, kind, cfg, c)
	s, ok := p.(steps.Step)
	if k.ReadOnly() || !ok {
		t.Fatalf("%s: read-only %v, built a %T: not a kind that changes something", kind, k.ReadOnly(), p)
	}
	return s
}

func build(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) (steps.Kind, steps.Probe) {
	t.Helper()
	r := steps.NewRegistry()
	if err := register(r); err != nil {
		t.Fatal(err)
	}
	k, ok := r.Kind(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatalf("%s: CheckAndSetDefaults: %v", kind, err)
	}
	p, err := k.Build(context.Background(), cfg, steps.Env{Conn: c})
	if err != nil {
		t.Fatalf("%s: Build: %v", kind, err)
	}
	if cl, ok := p.(steps.Closer); ok {
		t.Cleanup(func() { _ = cl.Close() })
	}
	return k, p
}

// CheckTimeout bounds one Check call of Check.
const CheckTimeout = 30 * time.Second

// Check calls s.Check once (within CheckTimeout) and fails the test on an
// error.
func Check(t testing.TB, s steps.Probe) steps.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	res, err := s.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// PollInterval is how often Converge polls Check after Apply.
const PollInterval = 100 * time.Millisecond

// Converge does with p what the executor does with a step: Check; if not
// done and p is a steps.Step, Apply, retrying transient errors (a
// permanent one fails the test); then poll Check every PollInterval until
// Done. The whole of it must finish within deadline, or the test fails.
func Converge(t testing.TB, p steps.Probe, deadline time.Duration) steps.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	res, err := p.Check(ctx)
	if err == nil && res.Done {
		return res
	}
	if s, ok := p.(steps.Step); ok {
		for {
			err := s.Apply(ctx)
			if err == nil {
				break
			}
			if steps.IsPermanent(err) {
				t.Fatalf("Apply: permanent error: %v", err)
			}
			if !wait(ctx) {
				t.Fatalf("Apply did not succeed within %s: %v", deadline, err)
			}
		}
	}
	for {
		res, err = p.Check(ctx)
		if err == nil && res.Done {
			return res
		}
		if steps.IsPermanent(err) {
			t.Fatalf("Check: permanent error: %v", err)
		}
		if !wait(ctx) {
			t.Fatalf("not done within %s: %q, %v", deadline, res.Summary, err)
		}
	}
}

func wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(PollInterval):
		return true
	}
}

// RefusedAddr returns a loopback host:port nothing listens on: a peer that
// is down and says so at once.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// BlackholeAddr returns a loopback host:port that accepts connections and
// never answers: the failure mode of a region that drops packets, which
// only a deadline gets a step out of. It is closed when the test ends.
func BlackholeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// NoSecret fails the test if secret appears in what a step shows people:
// res's summary and outputs, and err.
func NoSecret(t testing.TB, secret string, res steps.Result, err error) {
	t.Helper()
	if secret == "" {
		t.Fatal("NoSecret: empty secret (the test would prove nothing)")
	}
	if strings.Contains(res.Summary, secret) {
		t.Errorf("summary leaks the secret: %s", res.Summary)
	}
	for k, v := range res.Outputs {
		if strings.Contains(v, secret) {
			t.Errorf("output %s leaks the secret: %s", k, v)
		}
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks the secret: %v", err)
	}
}
