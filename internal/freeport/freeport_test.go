package freeport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// A port bound by a server that did not come from here is never
// handed out.
func TestABoundPortIsSkipped(t *testing.T) {
	var l net.Listener
	for p := Floor + 1000; l == nil && p < ephemeralLow(); p += 7 {
		l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	if l == nil {
		t.Fatal("no port to bind below the ephemeral range")
	}
	defer l.Close()
	bound := l.Addr().(*net.TCPAddr).Port
	if h, err := claim(bound); !errors.Is(err, errTaken) {
		t.Fatalf("claim of port %d, bound by the test: %v, %v (want errTaken)", bound, h, err)
	}
	for range 20 {
		ports, err := Get(50)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if p == bound {
				t.Fatalf("port %d, bound by the test, was handed out", p)
			}
		}
	}
}

// A port handed out stays claimed while its process lives, bound or not:
// neither this process nor another gets it again.
func TestAPortHandedOutIsNotHandedOutAgain(t *testing.T) {
	ports, err := Get(3) // released: nothing listens on them now
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		if h, err := claim(p); !errors.Is(err, errTaken) {
			t.Errorf("this process claimed port %d twice: %v, %v", p, h, err)
		}
	}
	var list []string
	for _, p := range ports {
		list = append(list, strconv.Itoa(p))
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FREEPORT_CHILD_PORTS="+strings.Join(list, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	for _, p := range list {
		if !strings.Contains(string(out), "port "+p+": taken\n") {
			t.Errorf("another process could claim port %s, handed out here:\n%s", p, out)
		}
	}
	if !strings.Contains(string(out), "own port: ") {
		t.Errorf("the child process could not get a port of its own:\n%s", out)
	}
}

// TestMain runs the tests, or, started by
// TestAPortHandedOutIsNotHandedOutAgain, is the other process that tries
// to claim the ports handed out to the test.
func TestMain(m *testing.M) {
	list := os.Getenv("FREEPORT_CHILD_PORTS")
	if list == "" {
		os.Exit(m.Run())
	}
	for _, s := range strings.Split(list, ",") {
		p, _ := strconv.Atoi(s)
		h, err := claim(p)
		switch {
		case errors.Is(err, errTaken):
			fmt.Printf("port %d: taken\n", p)
		case err != nil:
			fmt.Printf("port %d: %v\n", p, err)
		default:
			h.Release()
			fmt.Printf("port %d: claimed\n", p)
		}
	}
	own, err := One()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("own port: %d\n", own)
	os.Exit(0)
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
