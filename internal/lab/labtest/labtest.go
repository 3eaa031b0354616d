// Package labtest is the test plumbing of packages whose tests run against
// the lab: one lab shared by a package's non-destructive tests (Main,
// Shared) and a fresh lab for a test that changes it (Fresh).
package labtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
)

// UpTimeout bounds bringing a lab up; DownTimeout, taking it down.
const (
	UpTimeout   = 2 * time.Minute
	DownTimeout = time.Minute
)

var shared *lab.Lab

// Main is a package's TestMain: it brings up the lab that Shared returns,
// runs the tests, takes the lab down and exits with the tests' code. A lab
// that cannot come up (postgresql or redis missing, say) fails the package
// with "<name> tests need the lab: …": never a skip.
func Main(m *testing.M, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	l, err := lab.Up(ctx, lab.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s tests need the lab: %v\n", name, err)
		os.Exit(1)
	}
	shared = l
	code := m.Run()
	_ = l.Down(context.Background())
	os.Exit(code)
}

// Shared is the lab Main brought up, for tests that leave it as they found
// it (nil outside Main).
func Shared() *lab.Lab { return shared }

// Fresh brings up a lab of the test's own, for a test that fails over,
// promotes or rejoins; it is taken down when the test ends, and a failure
// to take it down fails the test.
func Fresh(t testing.TB) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{})
	if err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DownTimeout)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			t.Errorf("lab.Down: %v", err)
		}
	})
	return l
}

// Failed is a Fresh lab whose primary region then fails the way mode
// says (stopped, refusing, or blackholed: ports that accept and never
// answer).
func Failed(t testing.TB, mode lab.FailMode) *lab.Lab {
	t.Helper()
	l := Fresh(t)
	ctx, cancel := context.WithTimeout(context.Background(), UpTimeout)
	defer cancel()
	if err := l.FailPrimary(ctx, mode); err != nil {
		t.Fatalf("fail the lab's primary region (%s): %v", mode, err)
	}
	return l
}
