package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports are distinct, below the kernel's ephemeral range, and free:
// each can be bound once Get returns.
func TestPortsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	ports, err := Get(6)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	low := ephemeralLow()
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if p < Floor || p >= low {
			t.Errorf("port %d outside [%d, %d)", p, Floor, low)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		_ = l.Close()
	}
}

// A port in use is never handed out.
func TestABoundPortIsSkipped(t *testing.T) {
	ports, err := Get(200)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 50 {
		again, err := Get(200)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range again {
			if p == ports[0] {
				t.Fatalf("port %d, bound by the test, was handed out", p)
			}
		}
	}
}
