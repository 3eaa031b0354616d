package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

const (
	helperDB   = "SQLITE_STORE_HELPER_DB"
	helperName = "SQLITE_STORE_HELPER_NAME"
	helperOpen = "SQLITE_STORE_HELPER_OPEN"
	rounds     = 10
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperDB); path != "" {
		helper(path, os.Getenv(helperName))
		os.Exit(0)
	}
	if path := os.Getenv(helperOpen); path != "" {
		openHelper(path)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openHelper is a child process of TestProcessesStartingTogether: it says
// "ready", waits for a line on stdin (all children get theirs at once), opens
// the store and prints the outcome.
func openHelper(path string) {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Printf("error stdin: %v\n", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path, nil)
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		fmt.Printf("error open: %v\n", err)
		return
	}
	fmt.Println("opened")
}

// helper is a child process of TestSeparateProcesses: it races the other
// children to create an active run of each round's runbook and prints what
// happened.
func helper(path, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		fmt.Printf("error open: %v\n", err)
		return
	}
	defer s.Close()
	for !exists(path + ".go") {
		time.Sleep(time.Millisecond)
	}
	for round := range rounds {
		err := s.CreateRun(ctx, &store.Run{ID: fmt.Sprintf("%s-%d", name, round), Runbook: fmt.Sprintf("rb-%d", round), State: store.RunRunning})
		switch {
		case err == nil:
			fmt.Printf("won %d\n", round)
		case errors.Is(err, store.ErrActiveRun):
			fmt.Printf("lost %d\n", round)
		default:
			fmt.Printf("error %d: %v\n", round, err)
		}
	}
}

// TestSeparateProcesses: bot processes sharing one SQLite file (file locks
// between processes, not just connections) still get one active run per
// runbook.
func TestSeparateProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	s := open(t, path) // migrated before the children start
	const children = 4
	cmds := make([]*exec.Cmd, children)
	outs := make([]*strings.Builder, children)
	for i := range cmds {
		outs[i] = &strings.Builder{}
		cmds[i] = exec.Command(os.Args[0])
		cmds[i].Env = append(os.Environ(), helperDB+"="+path, fmt.Sprintf("%s=p%d", helperName, i))
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let them open the database
	if err := os.WriteFile(path+".go", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wins := make([]int, rounds)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v: %s", i, err, outs[i])
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			var round int
			switch {
			case strings.HasPrefix(line, "error"):
				t.Fatalf("child %d: %s", i, line)
			case strings.HasPrefix(line, "won "):
				fmt.Sscanf(line, "won %d", &round)
				wins[round]++
			}
		}
	}
	ctx := context.Background()
	for round, n := range wins {
		runs, err := s.ListRuns(ctx, store.ListOptions{Runbook: fmt.Sprintf("rb-%d", round)})
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || len(runs) != 1 {
			t.Errorf("round %d: %d processes won, %d runs stored; want 1", round, n, len(runs))
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestProcessesStartingTogether: bot processes started at the same instant
// on a file that does not exist yet all open it; the schema is applied once
// and the file is in WAL mode.
func TestProcessesStartingTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	const children = 4
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	kids := make([]child, children)
	for i := range kids {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperOpen+"="+path)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		kids[i] = child{cmd, stdin, bufio.NewReader(stdout)}
	}
	for i, k := range kids { // the barrier: every child is up and waiting
		if line, err := k.out.ReadString('\n'); line != "ready\n" {
			t.Fatalf("child %d: %q, %v; want ready", i, line, err)
		}
	}
	for i, k := range kids {
		if _, err := io.WriteString(k.stdin, "go\n"); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	for i, k := range kids {
		rest, err := io.ReadAll(k.out)
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v: %s", i, err, rest)
		}
		if string(rest) != "opened\n" {
			t.Errorf("child %d: %s", i, strings.TrimSpace(string(rest)))
		}
	}
	db := rawDB(t, path)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != migrations(t) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, migrations(t))
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}
