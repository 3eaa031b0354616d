package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolverPrefersMountedFileThenPrefixedEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "DB_PASSWORD"), []byte("from-file-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FAILOVER_SECRET_DB_PASSWORD": "from-env-pw", "FAILOVER_SECRET_REDIS_PASSWORD": "redis-env-pw",
		"REDIS_PASSWORD": "not-under-the-prefix"}
	r := &Resolver{Dir: dir, Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Redactor: &Redactor{}}

	got, err := r.Expand("postgres://app:${secret:DB_PASSWORD}@db/x redis=${secret:REDIS_PASSWORD}")
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	if want := "postgres://app:from-file-pw@db/x redis=redis-env-pw"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if s := r.Redactor.Scrub(got); strings.Contains(s, "pw") {
		t.Fatalf("resolved values were not learned by the redactor: %q", s)
	}
}

func TestMissingSecretNamesItAndChangesNothing(t *testing.T) {
	r := &Resolver{Lookup: func(string) (string, bool) { return "", false }}
	_, err := r.Expand("a ${secret:NOPE} b ${secret:ALSO_NOPE}")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	for _, name := range []string{"NOPE", "ALSO_NOPE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestValueNeverPrintsItself(t *testing.T) {
	v := Value("s3cr3t-value")
	b, _ := json.Marshal(struct{ P Value }{v})
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "p", v)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", v), "String": v.String(), "%#v": fmt.Sprintf("%#v", v),
		"json": string(b), "slog": logged.String(),
	} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("%s prints the secret: %s", name, s)
		}
	}
	if v.Reveal() != "s3cr3t-value" {
		t.Fatal("Reveal lost the value")
	}
}

func TestScrubErrorKeepsTheChain(t *testing.T) {
	red := &Redactor{}
	red.Add("hunter22")
	base := errors.New("connect: password hunter22 refused")
	err := red.ScrubError(fmt.Errorf("promote: %w", base))
	if strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), Redacted) {
		t.Fatalf("not scrubbed: %v", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("scrubbed error lost its chain")
	}
}

func TestShortValuesAreNotRedacted(t *testing.T) {
	red := &Redactor{}
	red.Add("a")
	if got := red.Scrub("a cat"); got != "a cat" {
		t.Fatalf("a one-letter value shredded the text: %q", got)
	}
	var nilRed *Redactor
	if got := nilRed.Scrub("x"); got != "x" {
		t.Fatal("nil redactor changed text")
	}
}

func TestLogHandlerScrubsMessagesAttributesErrorsAndGroups(t *testing.T) {
	red := &Redactor{}
	red.Add("hunter22")
	var out strings.Builder
	log := slog.New(NewLogHandler(slog.NewTextHandler(&out, nil), red)).With("dsn", "postgres://u:hunter22@db")
	log.Error("connect failed: password hunter22", "err", errors.New("auth hunter22 refused"),
		slog.Group("conn", "pw", "hunter22"), "n", 3)
	got := out.String()
	if strings.Contains(got, "hunter22") {
		t.Fatalf("a secret reached the log: %s", got)
	}
	for _, want := range []string{"connect failed", "dsn=", "err=", "conn.pw=", "n=3", Redacted} {
		if !strings.Contains(got, want) {
			t.Errorf("log lost %q: %s", want, got)
		}
	}
}
