package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// liveWeights is "primary=…,dr=…" of the live api records ("plain" for a
// plain record).
func liveWeights(l *lab) string {
	rs := map[string]awstest.Record{}
	for _, r := range l.Records(l.maip.ZoneID) {
		if r.Name == fqdn(awstest.MAIPAPIName) && r.Type == "A" {
			rs[r.SetIdentifier] = r
		}
	}
	if _, ok := rs[""]; ok {
		return "plain"
	}
	var parts []string
	for _, id := range []string{"primary", "dr"} {
		if r, ok := rs[id]; ok && r.Weight != nil {
			parts = append(parts, fmt.Sprintf("%s=%d", id, *r.Weight))
		}
	}
	return strings.Join(parts, ",")
}

// gateServer is an HTTP health endpoint whose answer a test decides from
// the live weights (the stage the shift is at), and that tells the test
// each stage it was asked at.
type gateServer struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []string // distinct live weights at the gate's evaluations
	failAt string   // weights at which the endpoint fails
	onSeen func(weights string)
}

func newGateServer(t *testing.T, l *lab) *gateServer {
	g := &gateServer{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := liveWeights(l)
		g.mu.Lock()
		if len(g.seen) == 0 || g.seen[len(g.seen)-1] != now {
			g.seen = append(g.seen, now)
		}
		fail, on := g.failAt == now, g.onSeen
		g.mu.Unlock()
		if on != nil {
			on(now)
		}
		if fail {
			http.Error(w, "5xx rate too high", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"UP"}`))
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateServer) stages() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}

// failback is the shift of runbooks/maip-failback.yaml with short holds
// and a gate of every kind: the primary's health check, an alarm, a
// metric condition and an HTTP check.
func failback(l *lab, gateURL string, hold string) *ShiftWeightsConfig {
	return &ShiftWeightsConfig{
		Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A",
		Records: []WeightedRecord{{SetIdentifier: "primary", AliasTarget: primaryAlias}, {SetIdentifier: "dr", AliasTarget: drAlias}},
		Stages: []WeightStage{
			{Weights: map[string]int{"primary": 10, "dr": 90}, Hold: hold},
			{Weights: map[string]int{"primary": 50, "dr": 50}, Hold: hold},
			{Weights: map[string]int{"primary": 90, "dr": 10}, Hold: hold},
			{Weights: map[string]int{"primary": 100, "dr": 0}},
		},
		HealthGate: HealthGate{
			HealthCheckIDs: []string{l.maip.PrimaryHealthCheckID},
			AlarmNames:     []string{"maip-prod-api-5xx"},
			Metrics: []MetricConfig{{Namespace: "AWS/DynamoDB", MetricName: "ReplicationLatency", Comparison: CompareBelow, Threshold: ptr(5000.0),
				Dimensions: map[string]string{"TableName": awstest.MAIPTable, "ReceivingRegion": east}}},
			HTTPChecks: []httpcheck.CheckConfig{{URL: gateURL + "/actuator/health", BodyContains: `"status":"UP"`}},
			Interval:   "10ms",
		},
	}
}

func TestShiftWeightsThroughEveryStage(t *testing.T) {
	l := newLab(t, awstest.Options{})
	g := newGateServer(t, l)
	cfg := failback(l, g.URL, "100ms")
	s := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", cfg, l.conn(west))
	res := stepstest.Check(t, s)
	if res.Done || res.Outputs["stage"] != "0" || !strings.Contains(res.Summary, "before the shift, a plain record alias "+awstest.MAIPPrimaryALB) {
		t.Fatalf("before: %+v", res)
	}
	start := time.Now()
	res = stepstest.Converge(t, s, 20*time.Second)
	took := time.Since(start)
	if res.Outputs["stage"] != "4" || res.Outputs["weights"] != "primary=100,dr=0" || !strings.Contains(res.Summary, "stage 4 of 4 (primary=100, dr=0)") {
		t.Errorf("after: %+v", res)
	}
	if got := liveWeights(l); got != "primary=100,dr=0" {
		t.Errorf("live weights %s", got)
	}
	want := []string{"primary=10,dr=90", "primary=50,dr=50", "primary=90,dr=10"}
	if got := g.stages(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the gate was asked at %v, want at %v", got, want)
	}
	if n := l.Calls("route53:ChangeResourceRecordSets"); n != 4 {
		t.Errorf("%d changes, want one per stage", n)
	}
	if took < 300*time.Millisecond {
		t.Errorf("the shift took %s: the three holds of 100ms were not held", took)
	}
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if n := l.Calls("route53:ChangeResourceRecordSets"); n != 4 {
		t.Errorf("a second Apply changed something: %d changes", n)
	}
}

func TestShiftWeightsFailedGateAtTheThirdStageReturnsToTheSecond(t *testing.T) {
	l := newLab(t, awstest.Options{})
	g := newGateServer(t, l)
	g.failAt = "primary=90,dr=10"
	s := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", failback(l, g.URL, "30ms"), l.conn(west))
	err := runShift(t, s)
	wantPermanent(t, err, "the health gate failed at stage 3 (primary=90, dr=10)", "503", "the weights are back to stage 2 (primary=50, dr=50)")
	if got := liveWeights(l); got != "primary=50,dr=50" {
		t.Errorf("live weights %s, want the second stage's", got)
	}
	res := stepstest.Check(t, s)
	if res.Done || res.Outputs["stage"] != "2" {
		t.Errorf("after the failure: %+v, want stage 2", res)
	}
	// The operator fixes the cause and retries: the shift resumes at stage 2.
	g.mu.Lock()
	g.failAt = ""
	g.mu.Unlock()
	before := l.Calls("route53:ChangeResourceRecordSets")
	stepstest.Converge(t, s, 10*time.Second)
	if n := l.Calls("route53:ChangeResourceRecordSets") - before; n != 2 {
		t.Errorf("the retry made %d changes, want 2 (stages 3 and 4)", n)
	}
}

func TestShiftWeightsFailedAlarmInTheFirstStageReturnsToTheInitialWeights(t *testing.T) {
	l := newLab(t, awstest.Options{})
	g := newGateServer(t, l)
	var once sync.Once
	g.onSeen = func(w string) {
		if w == "primary=10,dr=90" {
			once.Do(func() { _ = l.SetAlarmState(west, "maip-prod-api-5xx", "ALARM", "5xx above 50") })
		}
	}
	s := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", failback(l, g.URL, "1s"), l.conn(west))
	err := runShift(t, s)
	wantPermanent(t, err, "the health gate failed at stage 1", "alarm maip-prod-api-5xx is ALARM", "back to the initial weights (primary=0, dr=100)")
	if got := liveWeights(l); got != "primary=0,dr=100" {
		t.Errorf("live weights %s", got)
	}
	if res := stepstest.Check(t, s); res.Outputs["stage"] != "0" {
		t.Errorf("after: %+v, want stage 0", res)
	}
}

// runShift runs one Apply of a shift under a deadline.
func runShift(t *testing.T, s steps.Step) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return s.Apply(ctx)
}

func TestShiftWeightsResumesAfterARestartWithoutReapplyingEarlierStages(t *testing.T) {
	l := newLab(t, awstest.Options{})
	g := newGateServer(t, l)
	atSecond := make(chan struct{})
	var once sync.Once
	g.onSeen = func(w string) {
		if w == "primary=50,dr=50" {
			once.Do(func() { close(atSecond) })
		}
	}
	cfg := failback(l, g.URL, "100ms")
	first := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", cfg, l.conn(west))
	ctx, crash := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Apply(ctx) }()
	select {
	case <-atSecond:
	case err := <-done:
		t.Fatalf("the shift ended before its second stage: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the shift never reached its second stage")
	}
	crash() // the bot dies while holding stage 2
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the crashed Apply returned %v", err)
	}
	changes := l.Calls("route53:ChangeResourceRecordSets")

	// A new process: a fresh instance on the same live state.
	second := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", cfg, l.conn(west))
	res := stepstest.Check(t, second)
	if res.Done || res.Outputs["stage"] != "2" || res.Outputs["weights"] != "primary=50,dr=50" {
		t.Fatalf("after the restart: %+v, want stage 2", res)
	}
	res = stepstest.Converge(t, second, 20*time.Second)
	if res.Outputs["stage"] != "4" {
		t.Errorf("resumed: %+v", res)
	}
	if n := l.Calls("route53:ChangeResourceRecordSets") - changes; n != 2 {
		t.Errorf("the resumed shift made %d changes, want 2 (stages 3 and 4, never 1 or 2 again)", n)
	}
	want := []string{"primary=10,dr=90", "primary=50,dr=50", "primary=90,dr=10"}
	if got := g.stages(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the gate saw %v, want %v (no stage before 2 after the restart)", got, want)
	}
}

func TestShiftWeightsRefusesWeightsOfNoStage(t *testing.T) {
	l := newLab(t, awstest.Options{})
	seedWeighted(t, l, 30, 70)
	before := l.Calls("route53:ChangeResourceRecordSets")
	g := newGateServer(t, l)
	s := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", failback(l, g.URL, "10ms"), l.conn(west))
	if res := stepstest.Check(t, s); res.Done || res.Outputs["stage"] != "" || !strings.Contains(res.Summary, "none of the 4 stages") {
		t.Errorf("check: %+v", res)
	}
	err := apply(t, s)
	wantPermanent(t, err, "weights primary=30, dr=70, none of the stages")
	if n := l.Calls("route53:ChangeResourceRecordSets") - before; n != 0 {
		t.Errorf("%d changes, want none", n)
	}
}

func TestShiftWeightsOfCNAMERecordsWithARoute53HealthGate(t *testing.T) {
	l := newLab(t, awstest.Options{})
	const primary, dr = awstest.MimirPrimaryAPILB, "b9d1e3f5-mimir-api.us-west-2.elb.amazonaws.com"
	cfg := &ShiftWeightsConfig{
		Zone: Zone{HostedZoneID: l.mimir.ZoneID}, Name: awstest.MimirAPIName, Type: "CNAME", TTL: ptr(60),
		Records: []WeightedRecord{{SetIdentifier: "primary", Values: []string{primary}}, {SetIdentifier: "dr", Values: []string{dr}}},
		Stages: []WeightStage{
			{Weights: map[string]int{"primary": 10, "dr": 90}, Hold: "20ms"},
			{Weights: map[string]int{"primary": 100, "dr": 0}},
		},
		HealthGate: HealthGate{HealthCheckIDs: []string{l.mimir.APIHealthCheckID}, Interval: "10ms"},
	}
	s := stepstest.BuildStep(t, register, "aws.route53.shiftWeights", cfg, l.conn(west))
	stepstest.Converge(t, s, 10*time.Second)
	rs := records(t, l, l.mimir.ZoneID, awstest.MimirAPIName, "CNAME")
	if len(rs) != 2 || *rs["primary"].Weight != 100 || *rs["dr"].Weight != 0 || rs["dr"].Values[0] != dr {
		t.Errorf("records %+v", rs)
	}
	// Unhealthy primary (1 of 8 checkers): back to all DR.
	if err := l.SetHealthyCheckers(l.mimir.APIHealthCheckID, 1); err != nil {
		t.Fatal(err)
	}
	cfg2 := *cfg
	cfg2.Stages = []WeightStage{{Weights: map[string]int{"primary": 50, "dr": 50}, Hold: "1s"}, {Weights: map[string]int{"primary": 10, "dr": 90}}}
	cfg2.InitialWeights = map[string]int{"primary": 100, "dr": 0}
	err := apply(t, stepstest.BuildStep(t, register, "aws.route53.shiftWeights", &cfg2, l.conn(west)))
	wantPermanent(t, err, "health check "+l.mimir.APIHealthCheckID+" unhealthy (1/8 checkers healthy)", "back to the initial weights (primary=100, dr=0)")
}
