package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/config"
)

// The shipped lab overlay points the seed runbooks' Kubernetes
// connections at the lab's contexts, and changes their plan hashes.
func TestTheLabOverlayAppliesToTheShippedSeeds(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = "../../runbooks", filepath.Join(dir, "bot.db"), "overlay-test"
	plain := newApp(t, cfg)
	cfg.Connections, cfg.StorePath = "../../runbooks/overlays/lab.yaml", filepath.Join(dir, "lab.db")
	lab := newApp(t, cfg)
	for rbName, conns := range map[string]map[string]string{
		"mimir-region-failover": {"primary_cluster": "lab-primary", "dr_cluster": "lab-dr"},
		"mimir-failback":        {"primary_cluster": "lab-primary", "dr_cluster": "lab-dr"},
		"maip-region-failover":  {"primary_eks": "lab-primary", "dr_eks": "lab-dr"},
		"maip-failback":         {"primary_eks": "lab-primary", "dr_eks": "lab-dr"},
	} {
		rb, err := lab.Catalog.Get(rbName)
		if err != nil {
			t.Fatal(err)
		}
		prod, err := plain.Catalog.Get(rbName)
		if err != nil {
			t.Fatal(err)
		}
		for conn, ctx := range conns {
			if got := rb.Connections[conn].Fields["context"]; got != ctx {
				t.Errorf("%s: %s's context %q, want %q", rbName, conn, got, ctx)
			}
		}
		if rb.Hash == prod.Hash {
			t.Errorf("%s: the lab's plan hash is production's", rbName)
		}
		if d := rb.OverlayDescription(); !strings.HasPrefix(d, "lab (../../runbooks/overlays/lab.yaml): ") {
			t.Errorf("%s: overlay %q", rbName, d)
		}
	}
	lr, _ := lab.Catalog.Get("lab-failover")
	if lr == nil || lr.OverlayDescription() != "" {
		t.Errorf("lab-failover has no connection of the overlay: %v", lr)
	}
}

// An overlay entry no runbook has keeps the bot from starting: it would
// leave that runbook on its production connection during a drill.
func TestAnOverlayTypoKeepsTheBotFromStarting(t *testing.T) {
	dir := t.TempDir()
	overlay := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(overlay, []byte("connections:\n  dr_clster: {context: lab-dr}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Connections = "../../runbooks", filepath.Join(dir, "bot.db"), overlay
	_, err := New(context.Background(), Options{Config: cfg, Poster: console.NewPoster(io.Discard), Directory: &console.StaticDirectory{}})
	if err == nil || !strings.Contains(err.Error(), `lab.yaml:2: connections.dr_clster: unknown connection "dr_clster": no runbook has it (did you mean dr_cluster?)`) {
		t.Errorf("New = %v", err)
	}
}

func newApp(t *testing.T, cfg config.Config) *App {
	t.Helper()
	a, err := New(context.Background(), Options{Config: cfg, Poster: console.NewPoster(io.Discard), Directory: &console.StaticDirectory{Groups: cfg.Groups}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return a
}
