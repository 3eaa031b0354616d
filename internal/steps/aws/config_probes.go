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

// MetricBelowConfig configures aws.cloudwatch.metricBelow, a read-only
// probe (`aws cloudwatch get-metric-statistics`, e.g. DynamoDB
// ReplicationLatency or RDS ReplicaLag): done when the newest datapoint of
// the statistic over the window is below threshold. Outputs: value,
// timestamp (of that datapoint, RFC 3339).
type MetricBelowConfig struct {
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
	// Threshold the value must be below, in the metric's unit (required;
	// ReplicationLatency is in milliseconds, ReplicaLag in seconds).
	Threshold *float64 `yaml:"threshold" unit:"in the metric's unit, e.g. milliseconds for ReplicationLatency"`
	// Missing is what no datapoint in the window means: fail (default) or ok.
	Missing string `yaml:"missing"`
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *MetricBelowConfig) CheckAndSetDefaults() error {
	var e errs
	if e.Required("namespace", c.Namespace) && (len(c.Namespace) > 255 || strings.HasPrefix(c.Namespace, ":")) {
		e.Add("namespace", "is not a CloudWatch namespace: %q", c.Namespace)
	}
	e.Required("metricName", c.MetricName)
	if len(c.Dimensions) > 30 {
		e.Add("dimensions", "at most 30 dimensions, got %d", len(c.Dimensions))
	}
	names := make([]string, 0, len(c.Dimensions))
	for name := range c.Dimensions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if c.Dimensions[name] == "" {
			e.Add("dimensions."+name, "must not be empty")
		}
	}
	if c.Statistic == "" {
		c.Statistic = "Average"
	}
	e.OneOf("statistic", c.Statistic, statistics...)
	if c.Period == "" {
		c.Period = "5m"
	}
	if c.Window == "" {
		c.Window = "1h"
	}
	e.duration("period", c.Period, time.Second)
	e.duration("window", c.Window, time.Second)
	if checkable(c.Period) {
		if p, err := time.ParseDuration(c.Period); err == nil && p >= time.Second {
			switch {
			case p%time.Second != 0 || (p < time.Minute && p != time.Second && p != 5*time.Second && p != 10*time.Second && p != 30*time.Second):
				e.Add("period", "must be 1s, 5s, 10s, 30s or a multiple of 60s, got %s", c.Period)
			case p >= time.Minute && p%time.Minute != 0:
				e.Add("period", "must be 1s, 5s, 10s, 30s or a multiple of 60s, got %s", c.Period)
			}
			if checkable(c.Window) {
				if w, err := time.ParseDuration(c.Window); err == nil && w < p {
					e.Add("window", "must be at least one period (%s), got %s", c.Period, c.Window)
				}
			}
		}
	}
	if c.Threshold == nil {
		e.Add("threshold", "is required")
	}
	if c.Missing == "" {
		c.Missing = MissingFail
	}
	e.OneOf("missing", c.Missing, MissingFail, MissingOK)
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
