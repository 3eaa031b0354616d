package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/failoverbot/failoverbot/internal/freeport"
	goredis "github.com/redis/go-redis/v9"
)

// redisProc is a redis-server or redis-sentinel process run from a config
// file in the lab directory, so that it can be stopped and started again.
type redisProc struct {
	name     string
	bin      string
	conf     string
	port     int
	password string // for the readiness probe ("" for sentinels)
	logPath  string
	keep     bool     // survive the death of this process
	wrap     []string // a command that runs bin conf (the seeds' Sentinels: seedsRedis)

	cmd    *exec.Cmd
	exited chan struct{}
}

// findRedisBinary locates redis-server / redis-sentinel; the error names the
// Debian package.
func findRedisBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("lab: %s not found in PATH or /usr/bin: install the Debian package `%s` (apt-get install %s)", name, name, name)
}

// writeRedisConf writes a redis-server config file.
func writeRedisConf(dir, name string, port int, password string, extra ...string) (string, error) {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"protected-mode no",
		"daemonize no",
		`save ""`,
		"appendonly no",
		"dir " + dir,
		"dbfilename " + name + ".rdb",
		"repl-diskless-sync yes",
		"repl-diskless-sync-delay 0",
		"repl-timeout 10",
		"requirepass " + password,
		"masterauth " + password,
	}
	lines = append(lines, extra...)
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("lab: write %s: %w", path, err)
	}
	return path, nil
}

// writeSentinelConf writes a redis-sentinel config file monitoring master
// (none when masterName is empty), with the extra lines.
func writeSentinelConf(dir, name string, port int, masterName, masterHost string, masterPort int, password string, extra ...string) (string, error) {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"protected-mode no",
		"daemonize no",
		"dir " + dir,
	}
	// Before the monitor line: resolve-hostnames must be read first.
	lines = append(lines, extra...)
	if masterName == "" {
		lines = append(lines, "# monitors no master until told to (SENTINEL MONITOR)")
	} else {
		lines = append(lines,
			fmt.Sprintf("sentinel monitor %s %s %d 2", masterName, masterHost, masterPort),
			fmt.Sprintf("sentinel auth-pass %s %s", masterName, password),
			// The bot, not the sentinels, decides when the lab fails over.
			fmt.Sprintf("sentinel down-after-milliseconds %s 30000", masterName),
			fmt.Sprintf("sentinel failover-timeout %s 10000", masterName),
			fmt.Sprintf("sentinel parallel-syncs %s 1", masterName),
		)
	}
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("lab: write %s: %w", path, err)
	}
	return path, nil
}

func (r *redisProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Running reports whether the process is alive.
func (r *redisProc) Running() bool {
	if r.exited == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Start runs the process and waits until it answers PING.
func (r *redisProc) Start(ctx context.Context) error {
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: open %s: %w", r.logPath, err)
	}
	args := append(append([]string{}, r.wrap...), r.bin, r.conf)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !r.keep {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("lab: start %s: %w", r.name, err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	exited := r.exited
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return r.waitReady(ctx)
}

func (r *redisProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, 10*time.Second, fmt.Errorf("%s did not answer PING within 10s", r.name))
	defer cancel()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), Password: r.password,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	for {
		// Dial first: go-redis logs every failed dial on its global logger.
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", r.Addr())
		if err == nil {
			conn.Close()
			if err = c.Ping(ctx).Err(); err == nil {
				return nil
			}
		}
		select {
		case <-r.exited:
			return fmt.Errorf("lab: %s exited during start-up: %s", r.name, tail(r.logPath, 10))
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: %w (last error: %v)", r.name, context.Cause(ctx), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop kills the process (a region that dies does not shut down politely).
func (r *redisProc) Stop() error {
	if !r.Running() {
		return nil
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("lab: %s (pid %d) did not exit after SIGKILL", r.name, r.cmd.Process.Pid)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	p, err := freeport.One()
	if err != nil {
		return 0, fmt.Errorf("lab: %w", err)
	}
	return p, nil
}
