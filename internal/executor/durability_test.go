package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/pgserver/pgtest"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/postgres"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// The durability test runs the executor in a child process (this test
// binary, re-executed as the helper process, see TestMain) over a SQLite file, kills it
// with SIGKILL at chosen points of a run, restarts it (Recover) and checks
// that the run completes with every effect in place and no Apply called
// while its step's Check already held.

const (
	helperEnv   = "EXECUTOR_HELPER_PROCESS"
	durableRun  = "run-durable"
	durableBook = "durable"
	// slowEffect is how long the delayed effect of s4 takes to show.
	slowEffect = 300 * time.Millisecond
)

// markerStep is a step whose effect is a marker file in dir. Apply logs its
// start to apply.log, and records a violation in violations.log if it is
// called while the effect is already in place. With delay, the effect
// shows only once the marker is older than delay (an asynchronous change
// the executor must wait for).
type markerStep struct {
	dir, id string
	delay   time.Duration
}

func (m *markerStep) marker() string { return filepath.Join(m.dir, m.id+".done") }

func (m *markerStep) inPlace() (bool, error) {
	fi, err := os.Stat(m.marker())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return time.Since(fi.ModTime()) >= m.delay, nil
}

func (m *markerStep) Check(ctx context.Context) (steps.Result, error) {
	ok, err := m.inPlace()
	if err != nil {
		return steps.Result{}, err
	}
	return steps.Result{Done: ok, Summary: fmt.Sprintf("%s in place: %v", m.id, ok)}, nil
}

func (m *markerStep) Apply(ctx context.Context) error {
	if ok, _ := m.inPlace(); ok {
		if err := appendLine(filepath.Join(m.dir, "violations.log"), "apply "+m.id+" while its check held"); err != nil {
			return err
		}
	}
	if err := appendLine(filepath.Join(m.dir, "apply.log"), "start "+m.id); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond) // the call is in flight
	if m.id == os.Getenv("HELPER_HOLD") {
		// Held in flight until the test releases it.
		waitUntil(func() bool { _, err := os.Stat(filepath.Join(m.dir, "release")); return err == nil }, ctx.Done(), time.Minute)
	}
	if _, err := os.Stat(m.marker()); errors.Is(err, fs.ErrNotExist) {
		if err := writeSynced(m.marker()); err != nil {
			return err
		}
	}
	time.Sleep(20 * time.Millisecond) // the effect is in place, Apply has not returned
	return nil
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		return err
	}
	return f.Sync()
}

func writeSynced(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// durableRunbook: phase 1 runs s1 and s2 in parallel, then s3; phase 2
// runs s4 (slow effect), then s5 and s6 in parallel.
func durableRunbook(dir string) *runbook.Runbook {
	mk := func(id string, delay time.Duration, needs ...string) *runbook.Step {
		return &runbook.Step{ID: id, Name: id, Kind: "test.marker", Needs: needs, Timeout: 30 * time.Second,
			Factory: runbook.FactoryFunc(func(ctx context.Context, v runbook.Vars) (steps.Probe, error) {
				return &markerStep{dir: dir, id: id, delay: delay}, nil
			})}
	}
	return mkRunbook(durableBook,
		[]*runbook.Step{mk("s1", 0), mk("s2", 0), mk("s3", 0, "s1", "s2")},
		[]*runbook.Step{mk("s4", slowEffect), mk("s5", 0, "s4"), mk("s6", 0, "s4")})
}

// TestMain runs the bot-like child process of TestRunSurvivesSIGKILL when
// the test binary is re-executed as one, and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := helperProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperProcess is the child: it starts (or recovers) the durable run over
// the store named by its environment and waits for it.
func helperProcess() error {
	dir, mode := os.Getenv("HELPER_DIR"), os.Getenv("HELPER_MODE")
	ctx := context.Background()
	st, err := openDurableStore(ctx, dir, os.Getenv("HELPER_DSN"))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// A restarted process takes the run back when the dead one's lease
	// ends: keep it short.
	ex, err := New(Config{Store: st, Owner: "bot-deployment-1", PlanHash: testHash, LeaseTTL: time.Second,
		PollInterval: 20 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}
	defer ex.Close(ctx)
	fmt.Printf("owner %s\n", ex.Owner())
	rb := durableRunbook(dir)
	lookup := func(name string) (*runbook.Runbook, error) {
		if name != rb.Name {
			return nil, fmt.Errorf("no runbook %s", name)
		}
		return rb, nil
	}
	switch mode {
	case "start":
		err = ex.Start(ctx, durableRun, rb)
	case "recover", "observe":
		err = ex.Recover(ctx, lookup)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", mode, err)
	}
	if mode == "observe" {
		// Live beside another process for a while, as a second bot would.
		d, _ := time.ParseDuration(os.Getenv("HELPER_FOR"))
		time.Sleep(d)
		run, err := st.GetRun(ctx, durableRun)
		if err != nil {
			return err
		}
		fmt.Printf("after %s the run is %s, owned by %s\n", d, run.State, run.Owner)
		return nil
	}
	// Until the run ends: a restarted process takes it back when the dead
	// one's lease ends (Recover's takeover loop), not at once.
	for {
		if err := ex.Wait(ctx, durableRun); err != nil {
			return err
		}
		run, err := st.GetRun(ctx, durableRun)
		if err != nil {
			return err
		}
		if run.State != store.RunRunning {
			fmt.Printf("run %s: %s %s\n", run.ID, run.State, run.StateReason)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killPoint says when to kill the child.
type killPoint struct {
	what string
	hit  func(dir string, st store.Store) bool
}

// openDurableStore opens the PostgreSQL store at dsn, or else the SQLite
// file in dir.
func openDurableStore(ctx context.Context, dir, dsn string) (store.Store, error) {
	if dsn != "" {
		return postgres.Open(ctx, dsn, nil)
	}
	return sqlite.Open(ctx, filepath.Join(dir, "bot.db"), nil)
}

func TestRunSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	forEachStore(t, testSurvivesSIGKILL)
}

// forEachStore runs test on a SQLite file (dsn "") and on a PostgreSQL
// database of a server it starts.
func forEachStore(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, "") })
	t.Run("postgres", func(t *testing.T) {
		test(t, pgtest.NewDatabase(t, pgtest.Start(t)))
	})
}

func testSurvivesSIGKILL(t *testing.T, dsn string) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := openDurableStore(ctx, dir, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rb := durableRunbook(dir)
	h := testHash(rb, nil)
	if err := st.CreateRun(ctx, &store.Run{ID: durableRun, Runbook: rb.Name, PlanHash: h, Requester: "U1",
		State: store.RunPending, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	exists := func(name string) func(string, store.Store) bool {
		return func(dir string, _ store.Store) bool {
			_, err := os.Stat(filepath.Join(dir, name))
			return err == nil
		}
	}
	logged := func(line string) func(string, store.Store) bool {
		return func(dir string, _ store.Store) bool {
			return slices.Contains(readLines(t, filepath.Join(dir, "apply.log")), line)
		}
	}
	status := func(id string, want store.StepStatus) func(string, store.Store) bool {
		return func(_ string, st store.Store) bool {
			sts, err := st.Steps(ctx, durableRun)
			if err != nil {
				return false
			}
			for _, s := range sts {
				if s.StepID == id && s.Status == want {
					return true
				}
			}
			return false
		}
	}
	points := []killPoint{
		{"s1's Apply is in flight, its effect not yet in place", logged("start s1")},
		{"s3's effect is in place, its Apply has not returned", exists("s3.done")},
		{"s4 applied, waiting for its slow effect", status("s4", store.StepWaiting)},
		{"s5's effect is in place, its Apply has not returned", exists("s5.done")},
	}
	mode := "start"
	for _, kp := range points {
		if kp.hit(dir, st) {
			t.Fatalf("kill point %q reached before the child started", kp.what)
		}
		child := startHelper(t, dir, dsn, mode)
		mode = "recover"
		if !waitUntil(func() bool { return kp.hit(dir, st) }, child.exited, 60*time.Second) {
			child.kill()
			t.Fatalf("the child ended before the kill point %q:\n%s", kp.what, child.output())
		}
		child.kill()
		var states []string
		if sts, err := st.Steps(ctx, durableRun); err == nil {
			for _, s := range sts {
				states = append(states, s.StepID+"="+string(s.Status))
			}
		}
		slices.Sort(states)
		t.Logf("killed the child (SIGKILL) when %s; steps: %v", kp.what, states)
		if run, err := st.GetRun(ctx, durableRun); err != nil || run.State != store.RunRunning {
			t.Fatalf("after the kill the run is %v (%v), want running", run, err)
		}
	}
	child := startHelper(t, dir, dsn, "recover")
	select {
	case <-child.exited:
	case <-time.After(2 * time.Minute):
		child.kill()
		t.Fatalf("the last child did not finish:\n%s", child.output())
	}
	if child.err != nil {
		t.Fatalf("the last child failed: %v\n%s", child.err, child.output())
	}

	run, err := st.GetRun(ctx, durableRun)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s), want succeeded\n%s", run.State, run.StateReason, child.output())
	}
	sts, err := st.Steps(ctx, durableRun)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Status != store.StepDone {
			t.Errorf("step %s is %s", s.StepID, s.Status)
		}
	}
	for _, s := range rb.AllSteps() {
		if _, err := os.Stat(filepath.Join(dir, s.ID+".done")); err != nil {
			t.Errorf("effect of %s missing: %v", s.ID, err)
		}
	}
	if v := readLines(t, filepath.Join(dir, "violations.log")); len(v) > 0 {
		t.Errorf("Apply was called after its effect was in place:\n%s", strings.Join(v, "\n"))
	}
	applies := map[string]int{}
	for _, l := range readLines(t, filepath.Join(dir, "apply.log")) {
		applies[strings.TrimPrefix(l, "start ")]++
	}
	t.Logf("Apply calls per step over %d kills: %v", len(points), applies)
	for _, s := range rb.AllSteps() {
		if applies[s.ID] < 1 || applies[s.ID] > 2 {
			t.Errorf("step %s applied %d times, want 1 (2 only if killed mid-Apply before its effect)", s.ID, applies[s.ID])
		}
	}
	if applies["s3"] != 1 || applies["s5"] != 1 {
		t.Errorf("s3 and s5 were killed with their effect in place: re-applied (%d, %d)", applies["s3"], applies["s5"])
	}
}

type helper struct {
	cmd    *exec.Cmd
	out    *os.File
	exited chan struct{}
	err    error
}

func startHelper(t *testing.T, dir, dsn, mode string, env ...string) *helper {
	t.Helper()
	out, err := os.CreateTemp(dir, "child-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_DIR="+dir, "HELPER_MODE="+mode, "HELPER_DSN="+dsn)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	return h
}

func (h *helper) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

func (h *helper) output() string {
	b, _ := os.ReadFile(h.out.Name())
	return string(b)
}

// waitUntil polls cond every millisecond until it holds (true), stop is
// closed or the timeout passes (false).
func waitUntil(cond func() bool, stop <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		select {
		case <-stop:
			return cond()
		case <-time.After(time.Millisecond):
		}
	}
	return false
}

func readLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
