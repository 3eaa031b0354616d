package notify_test

import (
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify"
)

func TestDurationsReadAsPeopleWriteThem(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Minute: "2m", 65 * time.Second: "1m5s", time.Hour: "1h",
		90 * time.Minute: "1h30m", 1500 * time.Millisecond: "2s", 450 * time.Millisecond: "450ms", 0: "0s", 3*time.Hour + 5*time.Second: "3h0m5s"} {
		if got := notify.Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestATemplateNamingAnUnknownFieldIsRefusedAtLoad(t *testing.T) {
	if _, err := notify.ParseTemplate("{{ .Runbook }} {{ .Nope }}"); err == nil {
		t.Error("a template with an unknown field parsed")
	}
	if _, err := notify.ParseTemplate("{{ .Runbook "); err == nil {
		t.Error("a broken template parsed")
	}
	tt, err := notify.ParseTemplate("{{ .Runbook }}: {{ .Params.ticket }}{{ if .Expected }} of {{ .Expected }}{{ end }}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tt.Render(notify.Data{Runbook: "lab", Params: map[string]string{"ticket": "INC-1"}})
	if err != nil || out != "lab: INC-1" {
		t.Errorf("render = %q, %v", out, err)
	}
}
