package pgserver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartServesQueriesWithFastSettingsAndStopRemovesIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	begin := time.Now()
	srv, err := pgserver.Start(ctx, pgserver.Options{Conf: []string{"work_mem = '8MB'"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start-up took %s", time.Since(begin))
	defer srv.Stop()

	conn := connect(t, ctx, srv.DSN())
	for setting, want := range map[string]string{
		"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
		"listen_addresses": "127.0.0.1", "work_mem": "8MB", "unix_socket_directories": srv.SocketDir(),
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	if err := srv.CreateDatabase(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	connect(t, ctx, srv.DSNFor("fresh"))
	if _, err := os.Stat(filepath.Join(srv.DataDir(), "PG_VERSION")); err != nil {
		t.Errorf("data dir: %v", err)
	}
	conn.Close(ctx)

	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case <-srv.Exited():
	default:
		t.Fatal("postmaster still running after Stop")
	}
	if _, err := os.Stat(srv.DataDir()); !os.IsNotExist(err) {
		t.Errorf("data dir left behind after Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, srv.DSN()); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}

func TestPasswordIsRequiredOverTCPWhenSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pgserver.Start(ctx, pgserver.Options{Password: "s3cret:@/pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	connect(t, ctx, srv.DSN())
	bad := strings.Replace(srv.DSN(), "s3cret", "wrong", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

func TestTwoServersRunSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := pgserver.Start(ctx, pgserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b, err := pgserver.Start(ctx, pgserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if a.Port() == b.Port() || a.DataDir() == b.DataDir() {
		t.Fatalf("servers share port %d or data dir %s", a.Port(), a.DataDir())
	}
}

// TestStreamingStandby shows how the lab builds a primary and a standby:
// pg_basebackup -R as the PostgreSQL user into a directory it owns, then
// Start on that data directory.
func TestStreamingStandby(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, err := pgserver.Start(ctx, pgserver.Options{Password: "pw", Replication: true})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	pconn := connect(t, ctx, primary.DSN())
	if _, err := pconn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	dir, err := pgserver.MkdirTemp("standby-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	cmd, err := primary.Command(ctx, "pg_basebackup", "-d", primary.ReplicationDSN(), "-D", data,
		"-R", "-X", "stream", "--checkpoint=fast")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	standby, err := pgserver.Start(ctx, pgserver.Options{DataDir: data, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()

	sconn := connect(t, ctx, standby.DSN())
	var inRecovery bool
	if err := sconn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("standby in recovery = %v, %v", inRecovery, err)
	}
	if _, err := pconn.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := sconn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby has %d rows, want 2 (not streaming)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := standby.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		t.Errorf("Stop removed the caller's data dir: %v", err)
	}
}

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	_, err := pgserver.Start(context.Background(), pgserver.Options{BinDir: t.TempDir()})
	if err == nil {
		t.Fatal("started without binaries")
	}
	if !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("error does not say what to install: %v", err)
	}
}

func TestKillThenRestartOnTheSameDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := pgserver.MkdirTemp("kill-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	// With the default synchronous_commit=off a crash may lose the last
	// ~200ms of commits; this test wants them kept.
	srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: data, Conf: []string{"synchronous_commit = on"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	conn := connect(t, ctx, srv.DSN())
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("connection still works after Kill")
	}
	for deadline := time.Now().Add(5 * time.Second); alive(backend); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend %d survived Kill", backend)
		}
	}
	select {
	case <-srv.Exited():
	default:
		t.Fatal("postmaster alive after Kill")
	}
	again, err := pgserver.Start(ctx, pgserver.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	var v int
	if err := connect(t, ctx, again.DSN()).QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after crash recovery: %d, %v", v, err)
	}
}

// alive reports whether pid runs (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
