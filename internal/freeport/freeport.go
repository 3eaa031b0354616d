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
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
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
		p := lo + (start+i)%span
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // in use
		}
		held = append(held, &Held{Port: p, l: l})
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
