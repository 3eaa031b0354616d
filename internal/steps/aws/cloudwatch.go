package aws

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// cwAPI is a CloudWatch client of one step.
type cwAPI struct {
	*client
	cw *cloudwatch.Client
}

func (k *kinds) cwAPI(ctx context.Context, kind string, env steps.Env, callTimeout string) (*cwAPI, error) {
	c, err := k.client(ctx, kind, env, callTimeout)
	if err != nil {
		return nil, err
	}
	return &cwAPI{client: c, cw: cloudwatch.NewFromConfig(c.cfg)}, nil
}

// metricReading is the evaluation of a metric condition.
type metricReading struct {
	holds   bool
	value   string // "" when the window has no datapoint
	at      time.Time
	summary string
}

// metric reads the newest datapoint of m's statistic in its window
// (`aws cloudwatch get-metric-data`) and compares it with the threshold.
func (a *cwAPI) metric(ctx context.Context, m *MetricConfig) (metricReading, error) {
	period, window := steps.ParseDuration(m.Period), steps.ParseDuration(m.Window)
	end := a.now()
	dims := make([]types.Dimension, 0, len(m.Dimensions))
	keys := make([]string, 0, len(m.Dimensions))
	for k := range m.Dimensions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dims = append(dims, types.Dimension{Name: aws.String(k), Value: aws.String(m.Dimensions[k])})
	}
	name := m.Namespace + " " + m.MetricName
	if len(keys) > 0 {
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+m.Dimensions[k])
		}
		name += " (" + strings.Join(parts, ", ") + ")"
	}
	cctx, st, cancel := a.call(ctx, "CloudWatch")
	defer cancel()
	out, err := a.cw.GetMetricData(cctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(end.Add(-window)), EndTime: aws.Time(end), ScanBy: types.ScanByTimestampDescending,
		MetricDataQueries: []types.MetricDataQuery{{
			Id: aws.String("m"), ReturnData: aws.Bool(true),
			MetricStat: &types.MetricStat{Stat: aws.String(m.Statistic), Period: aws.Int32(int32(period / time.Second)),
				Metric: &types.Metric{Namespace: aws.String(m.Namespace), MetricName: aws.String(m.MetricName), Dimensions: dims}},
		}},
	})
	if err != nil {
		return metricReading{}, a.fail(ctx, st, err, "cloudwatch:GetMetricData", "*", "read %s", name)
	}
	var newest time.Time
	var value float64
	found := false
	for _, r := range out.MetricDataResults {
		for i, ts := range r.Timestamps {
			if i < len(r.Values) && (!found || ts.After(newest)) {
				newest, value, found = ts, r.Values[i], true
			}
		}
	}
	th := *m.Threshold
	cond := fmt.Sprintf("%s %s %s", m.Statistic, comparisonWords[m.Comparison], formatFloat(th))
	if !found {
		holds := m.Missing == MissingOK
		return metricReading{holds: holds, summary: fmt.Sprintf("%s: no datapoint in the last %s (missing: %s, so %s %s)",
			name, m.Window, m.Missing, cond, map[bool]string{true: "counts as met", false: "is not met"}[holds])}, nil
	}
	holds := compare(m.Comparison, value, th)
	verdict := "met"
	if !holds {
		verdict = "not met"
	}
	return metricReading{holds: holds, value: formatFloat(value), at: newest,
		summary: fmt.Sprintf("%s %s %s at %s: %s %s", name, m.Statistic, formatFloat(value), newest.UTC().Format(time.RFC3339), cond, verdict)}, nil
}

var comparisonWords = map[string]string{
	CompareAbove: "above", CompareAtOrAbove: "at or above", CompareBelow: "below", CompareAtOrBelow: "at or below",
}

func compare(op string, v, th float64) bool {
	switch op {
	case CompareAbove:
		return v > th
	case CompareAtOrAbove:
		return v >= th
	case CompareAtOrBelow:
		return v <= th
	}
	return v < th
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// alarmStates reads the states of the named alarms; an alarm that does not
// exist is a permanent error.
func (a *cwAPI) alarmStates(ctx context.Context, names []string) (map[string]string, error) {
	states := map[string]string{}
	in := &cloudwatch.DescribeAlarmsInput{AlarmNames: names, AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}}
	for {
		cctx, st, cancel := a.call(ctx, "CloudWatch")
		out, err := a.cw.DescribeAlarms(cctx, in)
		cancel()
		if err != nil {
			return nil, a.fail(ctx, st, err, "cloudwatch:DescribeAlarms", fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.region, a.account(), strings.Join(names, ",")), "describe alarms %s", strings.Join(names, ", "))
		}
		for _, al := range out.MetricAlarms {
			states[aws.ToString(al.AlarmName)] = string(al.StateValue)
		}
		for _, al := range out.CompositeAlarms {
			states[aws.ToString(al.AlarmName)] = string(al.StateValue)
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	var missing []string
	for _, n := range names {
		if _, ok := states[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, steps.Permanentf("%s: no CloudWatch alarm named %s in %s (connection %s)", a.kind, strings.Join(missing, ", "), a.region, a.name)
	}
	return states, nil
}

// Metric is an aws.cloudwatch.metric (or metricBelow) probe.
type Metric struct {
	a   *cwAPI
	cfg MetricConfig
}

var _ steps.Probe = (*Metric)(nil)

func (k *kinds) newMetric(ctx context.Context, cfg *MetricConfig, env steps.Env) (steps.Probe, error) {
	return k.metricProbe(ctx, "aws.cloudwatch.metric", cfg, env)
}

func (k *kinds) newMetricBelow(ctx context.Context, cfg *MetricBelowConfig, env steps.Env) (steps.Probe, error) {
	return k.metricProbe(ctx, "aws.cloudwatch.metricBelow", &cfg.MetricConfig, env)
}

func (k *kinds) metricProbe(ctx context.Context, kind string, cfg *MetricConfig, env steps.Env) (steps.Probe, error) {
	a, err := k.cwAPI(ctx, kind, env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &Metric{a: a, cfg: *cfg}, nil
}

// Check reads the newest datapoint: done when the condition holds.
func (p *Metric) Check(ctx context.Context) (steps.Result, error) {
	if err := p.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	r, err := p.a.metric(ctx, &p.cfg)
	if err != nil {
		return steps.Result{}, err
	}
	out := map[string]string{"value": r.value, "timestamp": ""}
	if !r.at.IsZero() {
		out["timestamp"] = r.at.UTC().Format(time.RFC3339)
	}
	return steps.Result{Done: r.holds, Summary: r.summary, Outputs: out}, nil
}

// AlarmState is an aws.cloudwatch.alarmState probe.
type AlarmState struct {
	a   *cwAPI
	cfg AlarmStateConfig
}

var _ steps.Probe = (*AlarmState)(nil)

func (k *kinds) newAlarmState(ctx context.Context, cfg *AlarmStateConfig, env steps.Env) (steps.Probe, error) {
	a, err := k.cwAPI(ctx, "aws.cloudwatch.alarmState", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &AlarmState{a: a, cfg: *cfg}, nil
}

// Check is done when every alarm is in the expected state.
func (p *AlarmState) Check(ctx context.Context) (steps.Result, error) {
	if err := p.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	states, err := p.a.alarmStates(ctx, p.cfg.AlarmNames)
	if err != nil {
		return steps.Result{}, err
	}
	var all, off []string
	for _, n := range p.cfg.AlarmNames {
		all = append(all, n+"="+states[n])
		if states[n] != p.cfg.Expect {
			off = append(off, n+" is "+states[n])
		}
	}
	out := map[string]string{"states": strings.Join(all, ",")}
	if len(off) > 0 {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s (expected %s)", strings.Join(off, ", "), p.cfg.Expect)}, nil
	}
	return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s in %s: %s", plural(len(all), "alarm"), p.cfg.Expect, strings.Join(p.cfg.AlarmNames, ", "))}, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
