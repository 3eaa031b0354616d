package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type noConfig struct{}

func (*noConfig) CheckAndSetDefaults() error { return nil }

func kind(name string) Kind {
	return DeclaredProbe[noConfig](Spec{Name: name})
}

func TestRegistryRefusesCollisionsAndIncompleteKinds(t *testing.T) {
	r := NewRegistry()
	if err := r.Register(kind("a.one"), kind("a.two")); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := r.Register(kind("a.one")); err == nil || !strings.Contains(err.Error(), "collision") {
		t.Fatalf("want a collision error, got %v", err)
	}
	if err := r.Register(Kind{}); err == nil {
		t.Fatal("a kind made by hand, without a config, was accepted")
	}
	if err := r.Register(kind("")); err == nil {
		t.Fatal("a kind without a name was accepted")
	}
	if got := strings.Join(r.Kinds(), ","); got != "a.one,a.two" {
		t.Fatalf("kinds = %s", got)
	}
	if err := r.RegisterConnection(ConnectionType{Name: "postgres"}); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterConnection(ConnectionType{Name: "postgres"}); err == nil {
		t.Fatal("duplicate connection type accepted")
	}
	if _, ok := r.ConnectionType("postgres"); !ok {
		t.Fatal("connection type lost")
	}
}

func TestPermanentIsFoundThroughWrapping(t *testing.T) {
	base := context.DeadlineExceeded
	if IsPermanent(fmt.Errorf("ping: %w", base)) {
		t.Fatal("an unmarked error is permanent")
	}
	err := fmt.Errorf("promote db: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) {
		t.Fatalf("wrapping lost the mark or the cause: %v", err)
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) is not nil")
	}
}

func TestIsTemplate(t *testing.T) {
	for s, want := range map[string]bool{
		"{{ .params.x }}": true, "${secret:A}": true, "${env:B}": true, "https://x/health": false, "": false,
	} {
		if IsTemplate(s) != want {
			t.Errorf("IsTemplate(%q) = %v", s, !want)
		}
	}
}
