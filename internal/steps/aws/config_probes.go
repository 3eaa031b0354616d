package aws

import (
	"sort"
	"strings"
	"time"
)

// CloudWatch statistics.
var statistics = []string{"Average", "Sum", "Minimum", "Maximum", "SampleCount"}

// Treatments of a metric with no datapoint in the window.
const (
	MissingFail = "fail"
	MissingOK   = "ok"
)

// Comparisons of a metric condition.
const (
	CompareAbove     = "above"
	CompareAtOrAbove = "atOrAbove"
	CompareBelow     = "below"
	CompareAtOrBelow = "atOrBelow"
)

// MetricConfig configures aws.cloudwatch.metric, a read-only probe
// (`aws cloudwatch get-metric-data`): done when the newest datapoint of the
// statistic over the window compares with threshold as comparison says
// ("ALB 5xx above 100 over 5 minutes": statistic Sum, period 5m, window
// 5m, comparison above, threshold 100). Outputs: value, timestamp (of that
// datapoint, RFC 3339; both "" when the window has none).
type MetricConfig struct {
	// Namespace, e.g. AWS/DynamoDB (required).
	Namespace string `yaml:"namespace"`
	// MetricName, e.g. ReplicationLatency (required).
	MetricName string `yaml:"metricName"`
	// Dimensions by name, e.g. TableName and ReceivingRegion.
	Dimensions map[string]string `yaml:"dimensions"`
	// Statistic is Average (default), Sum, Minimum, Maximum or SampleCount.
	Statistic string `yaml:"statistic"`
	// Period of the datapoints (default 5m; 1s, 5s, 10s, 30s or a multiple of 60s).
	Period string `yaml:"period"`
	// Window is how far back to look (default 1h; at least one period).
	Window string `yaml:"window"`
	// Comparison of the value with threshold: above, atOrAbove, below
	// (default), atOrBelow.
	Comparison string `yaml:"comparison"`
	// Threshold in the metric's unit (required; ReplicationLatency is in
	// milliseconds, ReplicaLag in seconds).
	Threshold *float64 `yaml:"threshold" unit:"in the metric's unit, e.g. milliseconds for ReplicationLatency"`
	// Missing is what no datapoint in the window means: fail (default: the
	// condition does not hold) or ok (it holds).
	Missing string `yaml:"missing"`
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *MetricConfig) CheckAndSetDefaults() error {
	var e errs
	c.check(&e, "")
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// check fills defaults and checks every field but callTimeout, naming
// fields with prefix p.
func (c *MetricConfig) check(e *errs, p string) {
	if e.Required(p+"namespace", c.Namespace) && (len(c.Namespace) > 255 || strings.HasPrefix(c.Namespace, ":")) {
		e.Add(p+"namespace", "is not a CloudWatch namespace: %q", c.Namespace)
	}
	e.Required(p+"metricName", c.MetricName)
	if len(c.Dimensions) > 30 {
		e.Add(p+"dimensions", "at most 30 dimensions, got %d", len(c.Dimensions))
	}
	names := make([]string, 0, len(c.Dimensions))
	for name := range c.Dimensions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if c.Dimensions[name] == "" {
			e.Add(p+"dimensions."+name, "must not be empty")
		}
	}
	if c.Statistic == "" {
		c.Statistic = "Average"
	}
	e.OneOf(p+"statistic", c.Statistic, statistics...)
	if c.Period == "" {
		c.Period = "5m"
	}
	if c.Window == "" {
		c.Window = "1h"
	}
	e.duration(p+"period", c.Period, time.Second)
	e.duration(p+"window", c.Window, time.Second)
	if checkable(c.Period) {
		if per, err := time.ParseDuration(c.Period); err == nil && per >= time.Second {
			if per%time.Second != 0 || (per < time.Minute && per != time.Second && per != 5*time.Second && per != 10*time.Second && per != 30*time.Second) ||
				(per >= time.Minute && per%time.Minute != 0) {
				e.Add(p+"period", "must be 1s, 5s, 10s, 30s or a multiple of 60s, got %s", c.Period)
			}
			if checkable(c.Window) {
				if w, err := time.ParseDuration(c.Window); err == nil && w < per {
					e.Add(p+"window", "must be at least one period (%s), got %s", c.Period, c.Window)
				}
			}
		}
	}
	if c.Comparison == "" {
		c.Comparison = CompareBelow
	}
	e.OneOf(p+"comparison", c.Comparison, CompareAbove, CompareAtOrAbove, CompareBelow, CompareAtOrBelow)
	if c.Threshold == nil {
		e.Add(p+"threshold", "is required")
	}
	if c.Missing == "" {
		c.Missing = MissingFail
	}
	e.OneOf(p+"missing", c.Missing, MissingFail, MissingOK)
}

// MetricBelowConfig configures aws.cloudwatch.metricBelow, the spelling of
// aws.cloudwatch.metric with comparison below that the first runbooks use
// (e.g. DynamoDB ReplicationLatency or RDS ReplicaLag below a threshold).
type MetricBelowConfig struct {
	MetricConfig `yaml:",inline"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *MetricBelowConfig) CheckAndSetDefaults() error {
	var e errs
	if c.Comparison != "" && c.Comparison != CompareBelow {
		e.Add("comparison", "aws.cloudwatch.metricBelow compares below; use aws.cloudwatch.metric for %q", c.Comparison)
	}
	c.check(&e, "")
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// Alarm states.
const (
	AlarmOK               = "OK"
	AlarmAlarm            = "ALARM"
	AlarmInsufficientData = "INSUFFICIENT_DATA"
)

// AlarmStateConfig configures aws.cloudwatch.alarmState, a read-only probe
// (`aws cloudwatch describe-alarms --alarm-names …`): done when every named
// alarm (in the connection's region) is in the expected state. Output:
// states (name=state, comma-separated).
type AlarmStateConfig struct {
	// AlarmNames (at least one).
	AlarmNames []string `yaml:"alarmNames"`
	// Expect is OK (default), ALARM or INSUFFICIENT_DATA.
	Expect string `yaml:"expect"`
	// CallTimeout bounds each call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *AlarmStateConfig) CheckAndSetDefaults() error {
	var e errs
	if len(c.AlarmNames) == 0 {
		e.Add("alarmNames", "at least one alarm name is required")
	}
	if len(c.AlarmNames) > 100 {
		e.Add("alarmNames", "at most 100 alarms, got %d", len(c.AlarmNames))
	}
	for i, n := range c.AlarmNames {
		if n == "" {
			e.Add(idx("alarmNames", i), "must not be empty")
		}
	}
	if c.Expect == "" {
		c.Expect = AlarmOK
	}
	e.OneOf("expect", c.Expect, AlarmOK, AlarmAlarm, AlarmInsufficientData)
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// CallerIdentityConfig configures aws.sts.callerIdentity, a read-only
// probe (`aws sts get-caller-identity`) for assessments: which account and
// identity the step's connection acts as. Done when the identity is known
// and, if the connection pins accountId, is in that account (a mismatch is
// a permanent error). Outputs: account, arn, credentials (where the
// credentials come from: connection keys, environment, profile, web
// identity, instance role; and the role assumed).
type CallerIdentityConfig struct {
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *CallerIdentityConfig) CheckAndSetDefaults() error {
	var e errs
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// NewestObjectAgeConfig configures aws.s3.newestObjectAge, a read-only
// probe (`aws s3 ls s3://mimir-backups-dr/postgres/ --recursive | tail`):
// done when the newest object under the prefix is at most maxAge old.
// Outputs: key, age (of the newest object; age as a Go duration, rounded
// to seconds).
type NewestObjectAgeConfig struct {
	// Bucket name (required).
	Bucket string `yaml:"bucket"`
	// Prefix, optional, e.g. postgres/.
	Prefix string `yaml:"prefix"`
	// MaxAge is the oldest acceptable newest object (required, a duration
	// such as 26h for daily backups).
	MaxAge string `yaml:"maxAge"`
	// CallTimeout bounds each list call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *NewestObjectAgeConfig) CheckAndSetDefaults() error {
	var e errs
	if e.Required("bucket", c.Bucket) {
		e.match("bucket", c.Bucket, bucketName, "an S3 bucket name (3–63 of a-z 0-9 . -)")
	}
	if checkable(c.Prefix) && strings.HasPrefix(c.Prefix, "/") {
		e.Add("prefix", "must not start with / (S3 keys have no leading slash), got %q", c.Prefix)
	}
	if e.Required("maxAge", c.MaxAge) {
		e.duration("maxAge", c.MaxAge, time.Nanosecond)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// ReplicatorRunningConfig configures aws.msk.replicatorRunning, a
// read-only probe (`aws kafka list-replicators --query
// "Replicators[?contains(ReplicatorName, 'maip')]"`): done when at least
// minCount replicators match and every matching one is RUNNING. Exactly
// one of name and nameContains is required. Outputs: replicators
// (name=state, comma-separated).
type ReplicatorRunningConfig struct {
	// Name is one replicator's exact name.
	Name string `yaml:"name"`
	// NameContains selects the replicators whose name contains it.
	NameContains string `yaml:"nameContains"`
	// MinCount is the least number of matching replicators (default 1).
	MinCount *int `yaml:"minCount"`
	// CallTimeout bounds each call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ReplicatorRunningConfig) CheckAndSetDefaults() error {
	var e errs
	e.ExactlyOne([]string{"name", "nameContains"}, c.Name != "", c.NameContains != "")
	if c.MinCount == nil {
		one := 1
		c.MinCount = &one
	}
	if *c.MinCount < 1 {
		e.Add("minCount", "must be ≥ 1, got %d", *c.MinCount)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}
