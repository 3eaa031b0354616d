package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
	"github.com/failoverbot/failoverbot/runbooks"
)

// holdFor is how long each hold step of the kill test's runbook sleeps: the
// window in which the test kills the bot.
const holdFor = 1500 * time.Millisecond

// killPoint is where in the lab failover the bot is killed.
type killPoint struct {
	name string
	// holdPromote: the bot's connection to the DR PostgreSQL stalls right
	// after it sent pg_promote (see pgTap).
	holdPromote bool
	// ready reports whether to kill now. It is checked again on the
	// store after the kill, to prove the kill landed where intended.
	ready func(s snapshot, o observed) bool
}

// observed is what the test saw outside the store before the kill.
type observed struct {
	promoted    bool // the DR PostgreSQL is out of recovery
	promoteHeld bool // the answer to the bot's pg_promote is held back
}

var killPoints = []killPoint{
	{
		// The run is running, promote_db has not been applied: the
		// restarted bot must promote, once.
		name: "before_promote",
		ready: func(s snapshot, o observed) bool {
			return s.state == store.RunRunning && !o.promoted &&
				s.is("hold_before_promote", store.StepChecking, store.StepWaiting) &&
				s.is("promote_db", "", store.StepPending)
		},
	},
	{
		// pg_promote reached the server and took effect, but the bot never
		// got the answer, so the step is still recorded applying: the
		// restarted bot must find it done, not promote again.
		name:        "promote_landed_not_recorded",
		holdPromote: true,
		ready: func(s snapshot, o observed) bool {
			return o.promoted && o.promoteHeld && s.is("promote_db", store.StepApplying)
		},
	},
	{
		// PostgreSQL is done, the Redis replica promoted, the Sentinels
		// not yet moved.
		name: "mid_redis",
		ready: func(s snapshot, _ observed) bool {
			return s.is("promote_db", store.StepDone) && s.is("promote_redis", store.StepDone) &&
				s.is("hold_mid_redis", store.StepChecking, store.StepWaiting) &&
				s.is("sentinels_to_dr", "", store.StepPending)
		},
	},
}

// TestLabFailoverKillAndResume runs the lab failover with the real bot
// binary (`bot console --script`) against a real lab whose primary region
// blackholes connections, SIGKILLs the bot mid-run at each kill point,
// starts it again on the same store as the same instance, and checks that
// the run finishes and the DR region really took over, with PostgreSQL
// promoted exactly once.
func TestLabFailoverKillAndResume(t *testing.T) {
	needLabBinaries(t)
	bin := buildBot(t)
	rb, err := slowLabFailover()
	if err != nil {
		t.Fatal(err)
	}
	for _, kp := range killPoints {
		t.Run(kp.name, func(t *testing.T) { killAndResume(t, bin, rb, kp) })
	}
}

// buildBot builds ./cmd/bot (this package) into a temporary directory.
func buildBot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bot")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/bot: %v\n%s", err, out)
	}
	t.Logf("built the bot in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// slowLabFailover is runbooks/lab-failover.yaml with two read-only hold
// steps (a pg_sleep on the DR server) that open kill windows: one before
// promote_db and one between promote_redis and sentinels_to_dr.
func slowLabFailover() ([]byte, error) {
	src, err := runbooks.FS.ReadFile("lab-failover.yaml")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("lab-failover.yaml: %w", err)
	}
	hold := func(id, name string, needs ...string) map[string]any {
		s := map[string]any{"id": id, "name": name, "kind": "postgres.query", "connection": "dr_pg", "timeout": "30s",
			"with": map[string]any{"sql": fmt.Sprintf("SELECT 1 AS held FROM pg_sleep(%g)", holdFor.Seconds()),
				"expectRows": 1, "queryTimeout": "10s"}}
		if len(needs) > 0 {
			s["needs"] = needs
		}
		return s
	}
	found := 0
	phases, _ := doc["phases"].([]any)
	for _, p := range phases {
		phase, _ := p.(map[string]any)
		list, _ := phase["steps"].([]any)
		var out []any
		for _, s := range list {
			step, _ := s.(map[string]any)
			switch step["id"] {
			case "promote_db":
				out = append(out, hold("hold_before_promote", "Hold (kill window before promote_db)"))
				step["needs"] = append(needsOf(step), "hold_before_promote")
				found++
			case "sentinels_to_dr":
				step["needs"] = append(needsOf(step), "hold_mid_redis")
				found++
			}
			out = append(out, step)
			if step["id"] == "promote_redis" {
				out = append(out, hold("hold_mid_redis", "Hold (kill window mid-Redis)", "promote_redis"))
				found++
			}
		}
		phase["steps"] = out
	}
	if found != 3 {
		return nil, errors.New("lab-failover.yaml no longer has promote_db, promote_redis and sentinels_to_dr: update the kill test")
	}
	return yaml.Marshal(doc)
}

func needsOf(step map[string]any) []any {
	n, _ := step["needs"].([]any)
	return n
}

// botEnv is this process's environment without the bot's own settings,
// plus extra.
func botEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FAILOVER_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "LAB_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func killAndResume(t *testing.T, bin string, runbookYAML []byte, kp killPoint) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := upFailedLab(t)
	t.Logf("lab up in %s", l.StartupTime().Round(time.Millisecond))
	labEnv := l.Env()

	d := newBotDir(t, map[string]string{"lab-failover.yaml": string(runbookYAML)})
	storePath := d.store
	// The same instance name both times, as a restarted pod: the
	// restarted bot still waits for the dead one's lease to end.
	script := func(name, body string) []string { return d.console(name, body, "kill-test") }
	// The bot reaches the DR PostgreSQL through a tap that counts its
	// pg_promote calls (and may hold back the answer to the first).
	tap := newPGTap(t, hostPort(t, labEnv["LAB_PG_STANDBY_DSN"]), kp.holdPromote)
	botLabEnv := maps.Clone(labEnv)
	botLabEnv["LAB_PG_STANDBY_DSN"] = withHost(t, labEnv["LAB_PG_STANDBY_DSN"], tap.Addr())
	// The restarted bot is another process: it takes the run back once the
	// dead one's lease has ended, which a short lease makes quick.
	env := botEnv(lab.RunbookEnv(botLabEnv))
	env = append(env, "FAILOVER_LEASE_TTL=2s")

	// First bot: request, two approvals, wait; killed mid-run.
	first := exec.CommandContext(ctx, bin, script("first.txt",
		"/failover start lab-failover kill-and-resume test\n/approve last --as oncall-2\n/approve last --as oncall-3\n/wait last\n")...)
	first.Env = env
	out1 := &logtest.Buffer{}
	first.Stdout, first.Stderr = out1, out1
	if err := first.Start(); err != nil {
		t.Fatalf("start the bot: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = first.Wait(); close(exited) }()

	watch, err := newWatcher(ctx, storePath, labEnv["LAB_PG_STANDBY_DSN"], tap)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.close()
	obs, err := watch.until(ctx, kp.ready, exited, 45*time.Second)
	killErr := first.Process.Kill() // SIGKILL
	<-exited
	if err != nil {
		t.Fatalf("%v (bot: %v)\n--- first bot's output:\n%s", err, waitErr, out1)
	}
	if killErr != nil {
		t.Fatalf("kill the bot: %v", killErr)
	}
	atKill, err := watch.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the bot %s after the test started; store at the kill: run %s %s, steps %s; seen: %+v",
		time.Since(start).Round(time.Millisecond), atKill.runID, atKill.state, atKill, obs)
	if !kp.ready(atKill, obs) {
		t.Fatalf("the bot went past the kill point before SIGKILL landed (store: %s)", atKill)
	}
	watch.close()

	// Second bot: same store, same instance; it must finish the run.
	second := exec.CommandContext(ctx, bin, script("second.txt", "/wait last\n/failover report last\n")...)
	second.Env = env
	out2 := &logtest.Buffer{}
	second.Stdout, second.Stderr = out2, out2
	second.WaitDelay = 5 * time.Second
	restart := time.Now()
	if err := second.Run(); err != nil {
		t.Fatalf("restarted bot: %v\n--- its output:\n%s\n--- first bot's output:\n%s", err, out2, out1)
	}
	t.Logf("the restarted bot finished the run in %s", time.Since(restart).Round(time.Millisecond))
	if want := "run " + atKill.runID + " succeeded"; !strings.Contains(out2.String(), want) {
		t.Errorf("restarted bot's output lacks %q:\n%s", want, out2)
	}

	checkStore(ctx, t, storePath, atKill)
	if n := tap.Promotes(); n != 1 {
		t.Errorf("the bots called pg_promote %d times, want once", n)
	}
	checkTimeline(ctx, t, labEnv["LAB_PG_STANDBY_DSN"])
	var report bytes.Buffer
	if err := verifyFailover(ctx, labEnv, &report); err != nil {
		t.Errorf("the DR region did not take over: %v", err)
	}
	t.Logf("%s(took %s)", report.String(), time.Since(start).Round(time.Millisecond))
}

// checkStore checks the run's records after the restart: succeeded, every
// step done, taken over after a restart, promote_db applied exactly once
// over both processes, and no step done before the kill applied again.
func checkStore(ctx context.Context, t *testing.T, path string, atKill snapshot) {
	t.Helper()
	runID := atKill.runID
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != store.RunSucceeded {
		t.Errorf("run %s is %s (%s), want succeeded", runID, run.State, run.StateReason)
	}
	states, err := st.Steps(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*store.StepState{}
	for _, s := range states {
		byID[s.StepID] = s
		if s.Status != store.StepDone {
			t.Errorf("step %s is %s, want done", s.StepID, s.Status)
		}
	}
	if len(byID) != 9 {
		t.Errorf("%d step states, want the 9 steps of the runbook", len(byID))
	}
	audit, err := st.Audit(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]int{}
	resumed := 0
	for _, e := range audit {
		switch {
		case e.Type == "step.applying":
			applied[e.StepID]++
		case e.Type == "run.resumed" && strings.Contains(e.Message, "taken over by"):
			resumed++
		}
	}
	if resumed != 1 {
		t.Errorf("%d run.resumed events after a restart, want 1", resumed)
	}
	if s := byID["promote_db"]; s == nil || s.Attempts != 1 || applied["promote_db"] != 1 {
		t.Errorf("promote_db: state %+v, %d step.applying events; want applied exactly once", s, applied["promote_db"])
	}
	for id, r := range atKill.steps {
		if s := byID[id]; r.status == store.StepDone && s != nil && s.Attempts != r.attempts {
			t.Errorf("step %s was done at the kill after %d applies, and applied again after the restart (%d)", id, r.attempts, s.Attempts)
		}
	}
}

// checkTimeline checks that the DR server was promoted once: it is on
// timeline 2 (a second promotion, or a promotion after a rewind, would
// make it 3).
func checkTimeline(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the DR PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatalf("CHECKPOINT on the DR PostgreSQL: %v", err)
	}
	var tl int
	if err := conn.QueryRow(ctx, "SELECT timeline_id FROM pg_control_checkpoint()").Scan(&tl); err != nil {
		t.Fatalf("read the DR PostgreSQL's timeline: %v", err)
	}
	if tl != 2 {
		t.Errorf("the DR PostgreSQL is on timeline %d, want 2 (promoted exactly once)", tl)
	}
}
