package report

import (
	"fmt"
	"testing"

	"github.com/failoverbot/failoverbot/internal/store"
)

// BenchmarkReport is what a run's end costs the bot: reading the timeline
// from SQLite (steps, approvals, audit trail, delivery log), the Markdown
// and the chart. A run of 3 steps with 200 audit records and 100
// notifications; it reports the sizes of both files.
func BenchmarkReport(b *testing.B) {
	st := seed(b, map[string]string{"lagAtPromotion": "0.25s"})
	ctx := b.Context()
	for i := range 200 {
		must(b, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(float64(46 + i%14)), Actor: "bot", Type: "step.waiting", StepID: "promote_db"}))
	}
	log := st.(store.DeliveryLog)
	for i := range 100 {
		d := &store.Delivery{RunID: "lab-1", Notifier: []string{"card", "statuspage"}[i%2], Key: fmt.Sprint(i + 1), QueuedAt: at(50)}
		if _, err := log.QueueDelivery(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	var md, png int
	for b.Loop() {
		tl, err := Build(ctx, st, "lab-1", labRunbook())
		if err != nil {
			b.Fatal(err)
		}
		p, err := tl.PNG()
		if err != nil {
			b.Fatal(err)
		}
		md, png = len(tl.Markdown()), len(p)
	}
	b.ReportMetric(float64(md)/1024, "KiB/report")
	b.ReportMetric(float64(png)/1024, "KiB/chart")
}
