package kube

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one control-plane process, logging to a file, that can be killed
// and started again with the same arguments.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string
	keep    bool // survive the death of this process

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool // by kill: a supervisor does not start it again
	gaveUp  bool // its supervisor stopped restarting it
	crashes int  // exits a supervisor restarted it after
}

// maxRestarts bounds a supervisor's restarts of a process that keeps
// exiting.
const maxRestarts = 5

// supervise starts the process again each time it exits without kill
// (up to maxRestarts times), as a service manager restarts a crashed
// kubelet; onCrash is told each time, with the end of its log.
func (p *proc) supervise(onCrash func(crashes int, tail string)) {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	go func() {
		for exited != nil {
			<-exited
			p.mu.Lock()
			if p.killed || p.exited != exited {
				p.mu.Unlock()
				return
			}
			p.crashes++
			n := p.crashes
			if n > maxRestarts {
				p.gaveUp = true
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			onCrash(n, p.logTail(15))
			time.Sleep(200 * time.Millisecond)
			p.mu.Lock()
			if p.killed { // stopped meanwhile: stays stopped
				p.mu.Unlock()
				return
			}
			if err := p.startLocked(); err != nil {
				p.gaveUp = true
				p.mu.Unlock()
				return
			}
			exited = p.exited
			p.mu.Unlock()
		}
	}()
}

// down reports whether the process is gone for good: not running and,
// if supervised, given up on.
func (p *proc) down(supervised bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if supervised {
		return p.gaveUp
	}
	return !p.runningLocked()
}

// start runs the process (no-op while it runs).
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proc) startLocked() error {
	if p.runningLocked() {
		return nil
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", p.name, err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !p.keep {
		// The kernel kills it when this process dies: a crashed test or
		// lab leaks no cluster.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	p.killed = false
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

func (p *proc) runningLocked() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// running reports whether the process is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

// kill SIGKILLs the process group and waits until the process is gone.
// The data is throw-away, and a polite SIGTERM to etcd and the API server
// at once once left the API server hanging with its port bound.
func (p *proc) kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	if !p.runningLocked() {
		return nil
	}
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, pid)
	}
}

// pid is the running process's id (0 when not running).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// logTail is the last n lines of the process's log, for errors.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rssBytes is the resident set size of the process (0 when not running).
func (p *proc) rssBytes() int64 {
	pid := p.pid()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
