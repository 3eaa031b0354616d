package commands

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/secret"
)

const pw = "s3cret-pw-42"

func TestSecretsNeverReachChatLogsOrTheAuditTrail(t *testing.T) {
	f := newFixture(t)
	red := &secret.Redactor{}
	red.Add(pw)
	f.h.o.Scrub = red.Scrub
	var logs strings.Builder
	f.h.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.exec.err = errors.New("pause: dial postgres://app:" + pw + "@db: timeout")
	f.exec.startErr = errors.New("connect postgres://app:" + pw + "@db:5432: refused")

	run := f.startRun()
	f.react("oncall-2", run, yes, true, "")
	f.react("oncall-3", run, yes, true, "") // quorum: Start fails with the secret
	out := f.command("oncall-2", "pause "+run.ID)

	var seen []string
	seen = append(seen, out.text())
	for _, m := range f.poster.msgs {
		seen = append(seen, m.Msg.Text, console.Render(m.Msg))
	}
	evs, err := f.st.Audit(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		seen = append(seen, e.Message)
		for _, v := range e.Data {
			seen = append(seen, v)
		}
	}
	seen = append(seen, logs.String())
	all := strings.Join(seen, "\n")
	if strings.Contains(all, pw) {
		t.Errorf("the secret leaked:\n%s", all)
	}
	if !strings.Contains(all, "postgres://app:[redacted]@db") {
		t.Errorf("the scrubbed errors are not shown at all:\n%s", all)
	}
}
