package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/config"
)

const goodRunbook = `name: good
assess:
  - id: api_up
    kind: http.check
    with: {url: "http://127.0.0.1:1/health", expect: down}
phases:
  - id: check
    steps:
      - id: api_down
        kind: http.check
        with: {url: "http://127.0.0.1:1/health", expect: down}
`

func TestABrokenRunbookDoesNotKeepTheBotDown(t *testing.T) {
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"good.yaml": goodRunbook, "broken.yaml": "name: broken\nphases: [{id: p, steps: [{id: a, kind: nosuch.kind}]}]\n"} {
		if err := os.WriteFile(filepath.Join(rbDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = rbDir, filepath.Join(dir, "bot.db"), "app-test"
	var logs bytes.Buffer
	ctx := context.Background()
	a, err := New(ctx, Options{Config: cfg, Poster: console.NewPoster(io.Discard),
		Directory: &console.StaticDirectory{Groups: cfg.Groups}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("app.New refused to start over one broken runbook: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if _, err := a.Catalog.Get("good"); err != nil {
		t.Errorf("the valid runbook is not usable: %v", err)
	}
	if _, err := a.Catalog.Get("broken"); err == nil {
		t.Error("the broken runbook was loaded")
	}
	if !strings.Contains(logs.String(), "broken.yaml") || !strings.Contains(logs.String(), "nosuch.kind") {
		t.Errorf("the broken runbook is not named in the log:\n%s", logs.String())
	}
}

func TestNewFailsClearlyOnAMissingRunbookDirectory(t *testing.T) {
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath = filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "bot.db")
	_, err := New(context.Background(), Options{Config: cfg, Poster: console.NewPoster(io.Discard),
		Directory: &console.StaticDirectory{}})
	if err == nil || !strings.Contains(err.Error(), "load runbooks") {
		t.Fatalf("want a runbook-loading error, got %v", err)
	}
}
