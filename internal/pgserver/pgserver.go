// Package pgserver starts a throwaway PostgreSQL server from the Debian
// binaries, for tests and for the local lab: initdb into a temporary
// directory, a free port on 127.0.0.1, unix sockets in the temporary
// directory, and fast, unsafe settings (fsync off) unless replication is
// wanted. PostgreSQL refuses to run as root, so when the process is root the
// programs run as the "postgres" OS user.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a server. The zero value is a fast, trust-auth server
// suitable for tests.
type Options struct {
	// BinDir holds initdb, postgres, pg_ctl…; empty means FindBinDir.
	BinDir string
	// DataDir, if set and already initialized (it holds PG_VERSION, e.g. made
	// by pg_basebackup), is started as is without initdb; if set and absent it
	// is initialized there. Either way it is not removed by Stop. Empty means
	// a data directory inside a temporary directory that Stop removes.
	DataDir string
	// Port to listen on; 0 picks a free one.
	Port int
	// Password for the "postgres" superuser. Empty means trust
	// authentication (no password); otherwise TCP connections use
	// scram-sha-256.
	Password string
	// Replication prepares the server to be a streaming primary:
	// wal_level=replica, WAL senders and slots, hot_standby, full page
	// writes kept on (pg_basebackup needs them), a replication role and a
	// pg_hba replication line for 127.0.0.1.
	//
	// Password, Replication, Conf and HBA shape a new cluster: they apply
	// when Start runs initdb, not to an existing DataDir (whose own
	// configuration, e.g. the primary's copied by pg_basebackup, is used).
	Replication bool
	// ReplicationUser and ReplicationPassword name the role created when
	// Replication is set; defaults "replicator" and Password.
	ReplicationUser     string
	ReplicationPassword string
	// Conf are extra postgresql.conf lines ("max_connections = 50"),
	// appended after the defaults (later lines win).
	Conf []string
	// HBA are extra pg_hba.conf lines, placed before the defaults (first
	// match wins).
	HBA []string
	// StartTimeout bounds the wait for the server to accept connections;
	// default 30s.
	StartTimeout time.Duration
	// KeepOnParentDeath leaves the server running if this process dies.
	// By default the kernel kills it (Pdeathsig) so that crashed tests do
	// not leak servers.
	KeepOnParentDeath bool
	// Logger receives start/stop messages; nil discards them.
	Logger *slog.Logger
}

// Server is a running PostgreSQL server.
type Server struct {
	opts     Options
	binDir   string
	baseDir  string // temporary: sockets, log (and data unless DataDir)
	dataDir  string
	ownsData bool
	fresh    bool // initdb ran in this Start
	port     int
	logPath  string
	log      *slog.Logger

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Start initializes (unless Options.DataDir is an existing cluster) and
// starts a server, and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.ReplicationUser == "" {
		opts.ReplicationUser = "replicator"
	}
	if opts.ReplicationPassword == "" {
		opts.ReplicationPassword = opts.Password
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !hasServer(binDir) {
		return nil, missingErr(binDir)
	}
	base, err := MkdirTemp("pgserver-")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, binDir: binDir, baseDir: base, log: log,
		logPath: filepath.Join(base, "postgres.log")}
	s.dataDir, s.ownsData = opts.DataDir, opts.DataDir == ""
	if s.ownsData {
		s.dataDir = filepath.Join(base, "data")
	}
	if err := s.start(ctx); err != nil {
		_ = os.RemoveAll(base)
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := s.initdb(ctx); err != nil {
			return err
		}
		s.fresh = true
	} else if err != nil {
		return fmt.Errorf("pgserver: inspect data dir %s: %w", s.dataDir, err)
	}
	// A free port can be taken between the probe and the bind: retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := s.opts.Port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		s.port = port
		lastErr = s.launch(ctx)
		if lastErr == nil {
			if s.opts.Replication && s.fresh {
				if err := s.createReplicationRole(ctx); err != nil {
					_ = s.Stop()
					return err
				}
			}
			s.log.InfoContext(ctx, "postgres started", "port", s.port, "data", s.dataDir)
			return nil
		}
		if s.opts.Port != 0 || ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

// launch runs the postmaster and waits until it accepts connections.
func (s *Server) launch(ctx context.Context) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgserver: open log: %w", err)
	}
	// Port, listen address and socket directory are given on the command
	// line so that a data directory made by pg_basebackup (whose
	// postgresql.conf is the primary's) starts here unchanged.
	cmd, err := Command(context.Background(), s.binDir, "postgres", "-D", s.dataDir,
		"-p", strconv.Itoa(s.port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.baseDir)
	if err != nil {
		logf.Close()
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if !s.opts.KeepOnParentDeath {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	}
	cmd.SysProcAttr.Setpgid = true // a terminal's ^C goes to the test, not to postgres
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgserver: start postgres: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.opts.StartTimeout,
		fmt.Errorf("postgres did not accept connections within %s", s.opts.StartTimeout))
	defer cancel()
	var lastErr error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.DSN())
		if err == nil {
			err = conn.Ping(cctx)
			_ = conn.Close(cctx)
		}
		ccancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-s.exited:
			return fmt.Errorf("pgserver: postgres exited during start-up (%v): %s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgserver: start on port %d: %w (last error: %v): %s",
				s.port, context.Cause(ctx), lastErr, s.logTail())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// DSN is a URL for the "postgres" database as the superuser.
func (s *Server) DSN() string { return s.DSNFor("postgres") }

// DSNFor is a URL for the named database as the superuser.
func (s *Server) DSNFor(database string) string {
	return s.url("postgres", s.opts.Password, database)
}

func (s *Server) url(user, password, database string) string {
	u := &url.URL{Scheme: "postgres", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path: "/" + database, RawQuery: "sslmode=disable", User: url.User(user)}
	if password != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// ReplicationDSN is a URL for the replication role (for pg_basebackup -d or
// primary_conninfo); empty unless Options.Replication.
func (s *Server) ReplicationDSN() string {
	if !s.opts.Replication {
		return ""
	}
	return s.url(s.opts.ReplicationUser, s.opts.ReplicationPassword, "postgres")
}

// Port is the TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// BinDir is the directory of the PostgreSQL programs.
func (s *Server) BinDir() string { return s.binDir }

// SocketDir is the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.baseDir }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// PID is the postmaster's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Exited is closed when the postmaster process has exited (stopped, or
// crashed, or killed by a test).
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Command returns a command running the PostgreSQL program name (psql,
// pg_basebackup, pg_ctl…) from the server's BinDir as the PostgreSQL OS user.
func (s *Server) Command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	return Command(ctx, s.binDir, name, args...)
}

// CreateDatabase creates an empty database (a fresh one per test).
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return fmt.Errorf("pgserver: create database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgserver: create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: SIGINT, then SIGKILL after
// 10s) and removes its temporary directory (not a caller's DataDir). It is
// safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		if err := os.RemoveAll(s.baseDir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("pgserver: remove %s: %w", s.baseDir, err)
		}
	})
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
		s.log.Info("postgres stopped", "port", s.port)
		return nil
	case <-time.After(10 * time.Second):
	}
	s.kill()
	return fmt.Errorf("pgserver: postgres on port %d ignored fast shutdown; killed", s.port)
}

// Kill crashes the server at once, as a host failure would: the postmaster
// and every server process die by SIGKILL, so open connections break
// immediately. The data directory is kept (a later Start on it runs crash
// recovery) until Stop removes a temporary one. With the default
// synchronous_commit=off the last ~200ms of commits may be lost, as on a
// real crash with asynchronous commit.
func (s *Server) Kill() {
	s.kill()
}

// kill stops the postmaster (so that it forks no more), kills its children
// (each backend is its own process group leader, so a group kill would
// miss them), then the postmaster.
func (s *Server) kill() {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for _, child := range childrenOf(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces and parentheses.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) >= 2 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log)"
	}
	return lastLines(string(b), 15)
}
