package aws_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// benchScale runs the fake's real-world delays (a promotion 90 s, a node
// group update 90 s, a Route 53 change 30 s) in tenths: seconds. The kinds'
// own cadence scales alike (100 ms → 300 ms for 1 s → 3 s), so every figure
// measured here is the real-world one times benchScale: lags and waits are
// reported both as measured and divided by benchScale.
const benchScale = 0.1

// wait is one wait of the failover on the local AWS: from the call that
// starts a change to the state the step waits for.
type wait struct {
	name     string
	resource awstest.Resource
	final    string // the state waited for
	start    string // the operation that starts the change
	describe string // the operation that observes it
	region   string // of the calls ("" for Route 53)
}

// BenchmarkMAIPFailoverAWSSteps runs the AWS steps of
// runbooks/maip-region-failover.yaml through the executor against the local
// AWS (primary database failed, us-east-1 still answering) and reports:
//   - wall/critical: the run's wall time ÷ the chain of waits on its
//     critical path (promotion, then the node group, then the Route 53
//     change; phases run one after another), as the fake timed them;
//   - lag: for each wait, from the fake's state change to the first
//     describe call that saw it (max and mean over the waits, measured and
//     at real-world delays);
//   - describes/min: describe calls per minute of waiting, per real-world
//     minute (the highest of the waits).
func BenchmarkMAIPFailoverAWSSteps(b *testing.B) {
	var ratio, lagMax, lagSum, rateMax float64
	var waitsN int
	for range b.N {
		b.StopTimer()
		w := newWorld(b, benchScale)
		if err := w.SetDBInstanceStatus(awstest.PrimaryRegion, awstest.MAIPPrimaryDB, "failed"); err != nil {
			b.Fatal(err)
		}
		rb := awsOnly(w.load(b, "maip-region-failover.yaml"), nil)
		w.ResetCalls()
		b.StartTimer()
		states, wall := runWith(b, rb, slog.New(slog.DiscardHandler))
		b.StopTimer()
		waits := []wait{
			{"promote", awstest.DBInstance(awstest.DRRegion, awstest.MAIPDRReplica), "available", "rds:PromoteReadReplica", "rds:DescribeDBInstances", awstest.DRRegion},
			{"node group", awstest.Nodegroup(awstest.DRRegion, awstest.MAIPDRCluster, awstest.MAIPDRNodes), "ACTIVE", "eks:UpdateNodegroupConfig", "eks:DescribeNodegroup", awstest.DRRegion},
			{"dns", awstest.Change(states["dns_api"].Outputs["changeId"]), "INSYNC", "route53:ChangeResourceRecordSets", "route53:GetChange", ""},
		}
		calls := w.CallLog()
		var chain time.Duration
		for _, wt := range waits {
			begin, ok := firstCall(calls, wt.start, wt.region, time.Time{})
			if !ok {
				b.Fatalf("%s: no %s call", wt.name, wt.start)
			}
			end, ok := w.EnteredAt(wt.resource, wt.final)
			if !ok {
				b.Fatalf("%s: never %s", wt.name, wt.final)
			}
			seen, ok := firstCall(calls, wt.describe, wt.region, end)
			if !ok {
				b.Fatalf("%s: no %s after it was %s", wt.name, wt.describe, wt.final)
			}
			n := 0
			for _, c := range calls {
				if c.Op == wt.describe && (wt.region == "" || c.Region == wt.region) && !c.At.Before(begin) && !c.At.After(seen) {
					n++
				}
			}
			lag := seen.Sub(end)
			realMinutes := seen.Sub(begin).Minutes() / benchScale
			rate := float64(n) / realMinutes
			b.Logf("%-10s waited %6s for %s, seen %5s late (%5.2fs at real-world delays), %d describes (%.1f per real-world minute)",
				wt.name, end.Sub(begin).Round(time.Millisecond), wt.final, lag.Round(time.Millisecond), lag.Seconds()/benchScale, n, rate)
			chain += end.Sub(begin)
			lagMax = max(lagMax, lag.Seconds())
			lagSum += lag.Seconds()
			waitsN++
			rateMax = max(rateMax, rate)
		}
		ratio += wall.Seconds() / chain.Seconds()
		b.Logf("wall %s, critical chain of waits %s: %.3f", wall.Round(time.Millisecond), chain.Round(time.Millisecond), wall.Seconds()/chain.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(ratio/float64(b.N), "wall/critical")
	b.ReportMetric(lagMax*1000, "lag-max-ms")
	b.ReportMetric(lagMax/benchScale, "lag-max-s-real")
	b.ReportMetric(lagSum/float64(waitsN)/benchScale, "lag-mean-s-real")
	b.ReportMetric(rateMax, "describes/min-real")
}

// firstCall is the time of the first call of op in region ("" any) at or
// after from.
func firstCall(calls []awstest.Call, op, region string, from time.Time) (time.Time, bool) {
	for _, c := range calls {
		if c.Op == op && (region == "" || c.Region == region) && !c.At.Before(from) {
			return c.At, true
		}
	}
	return time.Time{}, false
}
