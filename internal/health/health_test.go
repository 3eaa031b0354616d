package health_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/health"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /healthz answers while the process serves; /readyz names each check and
// fails with the ones that fail, or that hang past CheckTimeout; /metrics
// is the handler given; the store monitor's verdict is a check, scrubbed.
func TestEndpoints(t *testing.T) {
	var storeErr atomic.Value
	storeErr.Store(errors.New(""))
	mon := &health.StoreMonitor{Every: 10 * time.Millisecond, Scrub: func(s string) string { return strings.ReplaceAll(s, "hunter2", "[secret]") },
		Probe: func(context.Context) error {
			if e := storeErr.Load().(error); e.Error() != "" {
				return e
			}
			return nil
		}}
	var changes atomic.Int32
	mon.OnChange = func(bool) { changes.Add(1) }
	hang := atomic.Bool{}
	srv, err := health.Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) }), nil,
		health.Check{Name: "store", Check: mon.Check},
		health.Check{Name: "slack", Check: func(ctx context.Context) error {
			if hang.Load() {
				<-ctx.Done()
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	base := "http://" + srv.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "store: not probed yet") {
		t.Errorf("/readyz before the first probe = %d %q", code, body)
	}
	mctx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	go mon.Run(mctx)
	waitFor(t, func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if _, body := get(t, base+"/readyz"); body != "store: ok\nslack: ok\n" {
		t.Errorf("/readyz = %q", body)
	}
	storeErr.Store(errors.New("dial tcp: password hunter2 refused"))
	waitFor(t, func() bool { code, _ := get(t, base+"/readyz"); return code == 503 })
	if _, body := get(t, base+"/readyz"); !strings.Contains(body, "store: unreachable for") || strings.Contains(body, "hunter2") {
		t.Errorf("/readyz with the store down = %q", body)
	}
	storeErr.Store(errors.New(""))
	waitFor(t, func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if n := changes.Load(); n != 3 {
		t.Errorf("%d store state changes, want 3 (up, down, up)", n)
	}
	hang.Store(true)
	start := time.Now()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "slack: no answer within 2s") {
		t.Errorf("/readyz with a hung check = %d %q", code, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("/readyz took %s with a hung check", d)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || body != "m 1\n" {
		t.Errorf("/metrics = %d %q", code, body)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestListenRefusesABusyAddress(t *testing.T) {
	a, err := health.Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ctx, c := context.WithCancel(context.Background()); c(); _ = a.Serve(ctx) }()
	if _, err := health.Listen(a.Addr(), nil, nil); err == nil || !strings.Contains(err.Error(), a.Addr()) {
		t.Errorf("second Listen on %s = %v, want an error naming the address", a.Addr(), err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
