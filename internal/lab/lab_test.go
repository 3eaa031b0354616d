package lab

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func upLab(t *testing.T) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Up(ctx, Options{})
	if err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab.Down: %v", err)
		}
	})
	t.Logf("lab up in %s", l.StartupTime().Round(time.Millisecond))
	return l
}

func serviceByName(st Status, region, name string) Service {
	for _, s := range st.Services {
		if s.Region == region && s.Name == name {
			return s
		}
	}
	return Service{}
}

func TestLabComesUpWithBothRegionsReplicating(t *testing.T) {
	l := upLab(t)
	st := l.Status(context.Background())
	t.Logf("\n%s", st)
	want := map[string]string{
		"primary/postgres": "primary", "dr/postgres": "standby",
		"primary/redis": "master", "dr/redis": "slave",
		"primary/http": "http", "dr/http": "http",
		"dr/sentinel-1": "sentinel", "dr/sentinel-2": "sentinel", "dr/sentinel-3": "sentinel",
	}
	for key, role := range want {
		region, name, _ := strings.Cut(key, "/")
		s := serviceByName(st, region, name)
		if !s.Up || s.Role != role {
			t.Errorf("%s: up=%v role=%q detail=%q, want up as %s", key, s.Up, s.Role, s.Detail, role)
		}
	}
	if s := serviceByName(st, "dr", "redis"); !strings.Contains(s.Detail, l.redisProxy.Addr()) || !strings.Contains(s.Detail, "connected") {
		t.Errorf("the DR replica should replicate through the primary proxy %s: %s", l.redisProxy.Addr(), s.Detail)
	}
	env := l.Env()
	for _, k := range []string{"LAB_PG_PRIMARY_DSN", "LAB_PG_STANDBY_DSN", "LAB_REDIS_SENTINELS", "LAB_HTTP_PRIMARY_URL", "LAB_REDIS_PASSWORD"} {
		if env[k] == "" {
			t.Errorf("Env()[%s] is empty", k)
		}
	}
	if strings.Contains(st.String(), env["LAB_PG_PASSWORD"]) || strings.Contains(st.String(), env["LAB_REDIS_PASSWORD"]) {
		t.Errorf("status leaks a password:\n%s", st)
	}
}

func TestFailingThePrimaryRegion(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	primaries := []string{l.pgProxy.Addr(), l.redisProxy.Addr(), l.httpProxy.Addr()}

	if err := l.FailPrimary(ctx, FailBlackhole); err != nil {
		t.Fatal(err)
	}
	for _, addr := range primaries {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("blackhole %s: dial: %v, want accepted", addr, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = c.Write([]byte("PING\r\n"))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || !errorsAsTimeout(err, &ne) {
			t.Errorf("blackhole %s: read = %v, want a timeout (no answer)", addr, err)
		}
		c.Close()
	}
	st := l.Status(ctx)
	for _, name := range []string{"postgres", "redis", "http"} {
		if s := serviceByName(st, "primary", name); s.Up {
			t.Errorf("blackholed primary %s still reported up: %s", name, s.Detail)
		}
	}
	if s := serviceByName(st, "dr", "postgres"); !s.Up || s.Role != "standby" {
		t.Errorf("DR standby should stay up: %+v", s)
	}

	if err := l.FailPrimary(ctx, FailRefuse); err != nil {
		t.Fatal(err)
	}
	for _, addr := range primaries {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("refuse %s: dial succeeded, want refused", addr)
		} else if !strings.Contains(err.Error(), "refused") {
			t.Errorf("refuse %s: dial error %v, want connection refused", addr, err)
		}
	}

	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	st = l.Status(ctx)
	for _, name := range []string{"postgres", "redis", "http"} {
		if s := serviceByName(st, "primary", name); !s.Up {
			t.Errorf("restored primary %s is down: %s", name, s.Detail)
		}
	}

	if err := l.FailPrimary(ctx, FailStop); err != nil {
		t.Fatal(err)
	}
	st = l.Status(ctx)
	t.Logf("\n%s", st)
	for _, name := range []string{"postgres", "redis", "http"} {
		if s := serviceByName(st, "primary", name); s.Up {
			t.Errorf("stopped primary %s still reported up: %s", name, s.Detail)
		}
	}
}

func errorsAsTimeout(err error, ne *net.Error) bool {
	if e, ok := err.(net.Error); ok {
		*ne = e
		return e.Timeout()
	}
	return false
}

func BenchmarkLabUp(b *testing.B) {
	for b.Loop() {
		l, err := Up(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(l.StartupTime().Seconds(), "s/up")
		if err := l.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestServeRecordsTheLabForOtherProcesses(t *testing.T) {
	stateDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *State, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, stateDir, Options{}, func(_ *Lab, st *State) { ready <- st }) }()
	var st *State
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("lab not ready within 90s")
	}
	if st.Env["LAB_PG_STANDBY_DSN"] == "" || st.StartupMillis <= 0 {
		t.Errorf("state = %+v", st)
	}
	if err := Serve(ctx, stateDir, Options{}, nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Serve on the same state dir = %v, want refused", err)
	}
	r, err := Connect(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.FailPrimary(ctx, "sideways"); err == nil {
		t.Error("an unknown failure mode was accepted")
	}
	if err := r.FailPrimary(ctx, FailRefuse); err != nil {
		t.Fatal(err)
	}
	status, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Failed != FailRefuse || serviceByName(status, "primary", "redis").Up {
		t.Errorf("remote status after failing: %s", status)
	}
	bad := *r.State
	bad.Token = "wrong"
	if _, err := (&Remote{State: &bad, client: r.client}).Status(ctx); err == nil {
		t.Error("a wrong token was accepted")
	}
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	defer dcancel()
	if err := r.Down(dctx, stateDir); err != nil {
		t.Errorf("Down: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after Down")
	}
	if _, err := ReadState(stateDir); !errors.Is(err, ErrNoLab) {
		t.Errorf("state after down: %v, want ErrNoLab", err)
	}
}
