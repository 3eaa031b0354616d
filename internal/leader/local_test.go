package leader_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/leader"
)

// Two processes on one SQLite host: the first to lock the file leads; the
// second leads once the first stops.
func TestLocalOneLeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bot.db.leader")
	o := leader.Options{Owner: "a", CheckEvery: 20 * time.Millisecond}
	a, b := leader.NewLocal(path, o, nil), leader.NewLocal(path, o, nil)
	actx, stopA := context.WithCancel(context.Background())
	aDone := make(chan struct{})
	go func() { defer close(aDone); _ = a.Run(actx) }()
	waitFor(t, a.Leading)
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go func() { _ = b.Run(bctx) }()
	time.Sleep(100 * time.Millisecond)
	if b.Leading() {
		t.Fatal("both lead")
	}
	stopA()
	<-aDone
	if a.Leading() {
		t.Fatal("a stopped elector still leads")
	}
	waitFor(t, b.Leading)
}

// The lock is the kernel's: another process holding it (flock(1) here)
// keeps this one following.
func TestLocalFollowsAnotherProcess(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatal("flock(1) not found: it is in util-linux, an essential Debian package")
	}
	path := filepath.Join(t.TempDir(), "bot.db.leader")
	holder := exec.Command(flock, "-x", path, "sleep", "0.4")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	l := leader.NewLocal(path, leader.Options{Owner: "me", CheckEvery: 20 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = l.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if l.Leading() {
		t.Fatal("leads while another process holds the lock file")
	}
	_ = holder.Wait()
	waitFor(t, l.Leading)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
