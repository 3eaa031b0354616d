// Package freeport finds loopback TCP ports for the servers the lab and
// the tests start as child processes (etcd, kube-apiserver, PostgreSQL,
// Redis), which must be told their port before they bind it.
//
// Asking the kernel for port 0 and closing the listener races: the port
// it gives comes from the ephemeral range, from which every outgoing
// connection on the machine also takes its local port, so between the
// close and the child's bind another connection can take it ("bind:
// address already in use"). Ports here come from below the ephemeral
// range instead, where the kernel never picks a local port by itself;
// each is checked free by binding it, and a random start keeps two
// processes from probing the same ports in the same order.
//
// A port handed out stays claimed for the life of the process that got
// it, through an flock on a file named for the port in a directory all
// processes share: a lab restarts a server on the port it was given (an
// API server killed by a region outage, a PostgreSQL rejoined as a
// standby), and no other process on the machine (a test package run in
// parallel, another lab) may take the port while the server is down.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Floor is the lowest port handed out.
const Floor = 15000

// rangeFile holds the kernel's ephemeral port range ("32768\t60999").
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Held is a free port kept bound until Release, so that nothing else
// takes it in the time before the server meant for it starts.
type Held struct {
	// Port is the port number.
	Port int
	l    net.Listener
}

// Release frees the port for the server about to bind it (idempotent).
func (h *Held) Release() {
	if h.l != nil {
		_ = h.l.Close()
		h.l = nil
	}
}

// Listener hands the bound listener to an in-process server, which owns
// it from then on (Release no longer closes it); nil once released.
func (h *Held) Listener() net.Listener {
	l := h.l
	h.l = nil
	return l
}

// Get returns n distinct ports free on 127.0.0.1 at the time of the call.
func Get(n int) ([]int, error) {
	held, err := Hold(n)
	if err != nil {
		return nil, err
	}
	ports := make([]int, len(held))
	for i, h := range held {
		ports[i] = h.Port
		h.Release()
	}
	return ports, nil
}

// Hold finds n distinct ports free on 127.0.0.1 and keeps each bound
// until its Release.
func Hold(n int) ([]*Held, error) {
	lo, hi := Floor, ephemeralLow()
	if hi-lo < 4*n {
		return kernelPorts(n)
	}
	held := make([]*Held, 0, n)
	span := hi - lo
	start := rand.IntN(span)
	for i := 0; i < span && len(held) < n; i++ {
		h, err := claim(lo + (start+i)%span)
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			for _, h := range held {
				h.Release()
			}
			return nil, err
		}
		held = append(held, h)
	}
	if len(held) < n {
		for _, h := range held {
			h.Release()
		}
		return nil, fmt.Errorf("find %d free ports: only %d free in %d-%d", n, len(held), lo, hi-1)
	}
	return held, nil
}

// One returns a port free on 127.0.0.1 at the time of the call.
func One() (int, error) {
	ps, err := Get(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	p, err := strconv.Atoi(f[0])
	if err != nil || p <= 0 {
		return 32768
	}
	return p
}

// errTaken: the port is bound, or was handed out to a process still
// alive (this one included).
var errTaken = errors.New("port taken")

// claims are the lock files of the ports this process was handed; they
// stay open (and locked) until the process exits.
var claims struct {
	sync.Mutex
	files []*os.File
}

// lockDir is the directory of the ports' lock files, shared by every
// process on the machine.
var lockDir = filepath.Join(os.TempDir(), "failoverbot-ports")

// makeLockDir makes lockDir, once per process.
var makeLockDir = sync.OnceValue(func() error {
	if err := os.MkdirAll(lockDir, 0o777); err != nil {
		return err
	}
	_ = os.Chmod(lockDir, 0o1777) // other users' tests share the directory
	return nil
})

// claim locks port p for this process and binds it, or returns errTaken.
func claim(p int) (*Held, error) {
	if err := makeLockDir(); err != nil {
		return nil, fmt.Errorf("claim port %d: %w", p, err)
	}
	f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("claim port %d: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errTaken
		}
		return nil, fmt.Errorf("claim port %d: lock: %w", p, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		// In use by a server that did not come from here: unlock, so
		// the port is free to claim once that server is gone.
		_ = f.Close()
		return nil, errTaken
	}
	claims.Lock()
	claims.files = append(claims.files, f)
	claims.Unlock()
	return &Held{Port: p, l: l}, nil
}

// kernelPorts asks the kernel (port 0), when the range below the
// ephemeral one is too small to pick from.
func kernelPorts(n int) ([]*Held, error) {
	held := make([]*Held, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, h := range held {
				h.Release()
			}
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		held = append(held, &Held{Port: l.Addr().(*net.TCPAddr).Port, l: l})
	}
	return held, nil
}
