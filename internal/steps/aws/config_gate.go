package aws

import (
	"time"

	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
)

// HealthGate is what must hold while a stage is held before the next
// stage: every Route 53 health check healthy, every CloudWatch alarm OK,
// every HTTP check up and every metric condition met. It is evaluated when
// a stage's hold begins and every interval during it. If it fails, the
// step returns to the previous stage's weights and fails permanently, so
// that the run pauses for the operator.
type HealthGate struct {
	// HealthCheckIDs of Route 53 health checks that must stay healthy.
	HealthCheckIDs []string `yaml:"healthCheckIds"`
	// AlarmNames of CloudWatch alarms (in the connection's region) that
	// must stay OK.
	AlarmNames []string `yaml:"alarmNames"`
	// HTTPChecks are http.check probes that must find their endpoint up.
	HTTPChecks []httpcheck.CheckConfig `yaml:"httpChecks"`
	// Metrics are CloudWatch metric conditions (in the connection's
	// region) that must hold, as aws.cloudwatch.metric states them.
	Metrics []MetricConfig `yaml:"metrics"`
	// Interval between evaluations during a hold (default 30s).
	Interval string `yaml:"interval"`
}

// DefaultGateInterval is how often a health gate is evaluated during a hold.
const DefaultGateInterval = "30s"

func (g *HealthGate) validate(e *errs) {
	if len(g.HealthCheckIDs) == 0 && len(g.AlarmNames) == 0 && len(g.HTTPChecks) == 0 && len(g.Metrics) == 0 {
		e.Add("healthGate", "at least one of healthCheckIds, alarmNames, httpChecks, metrics is required: a shift without a health gate is not gradual")
	}
	for i, id := range g.HealthCheckIDs {
		e.healthCheckID(idx("healthGate.healthCheckIds", i), id)
	}
	for i, n := range g.AlarmNames {
		if n == "" {
			e.Add(idx("healthGate.alarmNames", i), "must not be empty")
		}
	}
	for i := range g.HTTPChecks {
		h := &g.HTTPChecks[i]
		p := idx("healthGate.httpChecks", i) + "."
		e.nested(p, h.CheckAndSetDefaults())
		if h.Expect != httpcheck.ExpectUp {
			e.Add(p+"expect", "must be up in a health gate, got %q", h.Expect)
		}
	}
	for i := range g.Metrics {
		g.Metrics[i].check(e, idx("healthGate.metrics", i)+".")
	}
	if g.Interval == "" {
		g.Interval = DefaultGateInterval
	}
	e.duration("healthGate.interval", g.Interval, 10*time.Millisecond)
}
