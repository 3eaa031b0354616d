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

// A held port stays bound (no one else gets it) until Release frees it
// for the server meant for it.
func TestHeldPortsAreBoundUntilReleased(t *testing.T) {
	held, err := Hold(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if _, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Port))); err == nil {
			t.Fatalf("held port %d could be bound by another listener", h.Port)
		}
		h.Release()
		h.Release() // idempotent
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(h.Port)))
		if err != nil {
			t.Fatalf("released port %d: %v", h.Port, err)
		}
		_ = l.Close()
	}
}
