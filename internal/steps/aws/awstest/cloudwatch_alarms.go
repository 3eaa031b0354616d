package awstest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// alarm is a CloudWatch metric alarm.
type alarm struct {
	AlarmSpec
	arn     string
	reason  string
	updated time.Time
}

// AlarmSpec seeds a metric alarm with SeedAlarm.
type AlarmSpec struct {
	Name string
	// State: OK (default), ALARM, INSUFFICIENT_DATA.
	State  string
	Metric Metric
	// Statistic (default Average), Period in seconds (default 60),
	// EvaluationPeriods (default 1), Threshold, ComparisonOperator
	// (default GreaterThanThreshold).
	Statistic          string
	Period             int
	EvaluationPeriods  int
	Threshold          float64
	ComparisonOperator string
}

// SeedAlarm adds a metric alarm in region.
func (s *Server) SeedAlarm(region string, spec AlarmSpec) error {
	if spec.Name == "" {
		return fmt.Errorf("awstest: an alarm needs a name")
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&spec.State, "OK")
	def(&spec.Statistic, "Average")
	def(&spec.ComparisonOperator, "GreaterThanThreshold")
	if spec.Period == 0 {
		spec.Period = 60
	}
	if spec.EvaluationPeriods == 0 {
		spec.EvaluationPeriods = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(region)
	if r.alarms[spec.Name] != nil {
		return fmt.Errorf("awstest: alarm %s exists in %s", spec.Name, region)
	}
	r.alarms[spec.Name] = &alarm{AlarmSpec: spec, updated: s.now(), reason: "Seeded by awstest",
		arn: fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", region, s.opts.AccountID, spec.Name)}
	return nil
}

// SetAlarmState changes an alarm's state (OK, ALARM, INSUFFICIENT_DATA).
func (s *Server) SetAlarmState(region, name, state, reason string) error {
	switch state {
	case "OK", "ALARM", "INSUFFICIENT_DATA":
	default:
		return fmt.Errorf("awstest: alarm state must be OK, ALARM or INSUFFICIENT_DATA, got %q", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.region(region).alarms[name]
	if a == nil {
		return fmt.Errorf("awstest: no alarm %s in %s", name, region)
	}
	a.State, a.reason, a.updated = state, reason, s.now()
	return nil
}

func (s *Server) cwDescribeAlarms(c *call) (any, *apiError) {
	in, err := cborInput(c.body)
	if err != nil {
		return nil, err
	}
	names, prefix, state := in.strs("AlarmNames"), in.str("AlarmNamePrefix"), in.str("StateValue")
	if len(names) > 0 && prefix != "" {
		return nil, &apiError{status: 400, code: "InvalidParameterCombination", shape: "InvalidParameterCombinationException",
			message: "AlarmNamePrefix and AlarmNames cannot both be specified."}
	}
	types := in.strs("AlarmTypes")
	max := 50
	if v := in.int("MaxRecords"); v != 0 {
		if v < 1 || v > 100 {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
				message: "The parameter MaxRecords must be between 1 and 100."}
		}
		max = int(v)
	}
	start := 0
	if t := in.str("NextToken"); t != "" {
		n, perr := strconv.Atoi(t)
		if perr != nil || n < 0 {
			return nil, &apiError{status: 400, code: "InvalidNextToken", shape: "InvalidNextToken", message: "The service couldn't process the token."}
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	alarms := s.region(c.region).alarms
	var match []*alarm
	for _, n := range sortedKeys(alarms) {
		a := alarms[n]
		if (len(names) > 0 && !slices.Contains(names, n)) || !strings.HasPrefix(n, prefix) || (state != "" && a.State != state) {
			continue
		}
		match = append(match, a)
	}
	out := cbor.Map{"CompositeAlarms": cbor.List{}}
	list := cbor.List{}
	if len(types) == 0 || slices.Contains(types, "MetricAlarm") {
		for i := start; i < len(match) && i < start+max; i++ {
			list = append(list, alarmCBOR(match[i]))
		}
		if start+max < len(match) {
			out["NextToken"] = cbor.String(strconv.Itoa(start + max))
		}
	}
	out["MetricAlarms"] = list
	return out, nil
}

func alarmCBOR(a *alarm) cbor.Value {
	return cbor.Map{
		"AlarmName": cbor.String(a.Name), "AlarmArn": cbor.String(a.arn),
		"StateValue": cbor.String(a.State), "StateReason": cbor.String(a.reason),
		"StateUpdatedTimestamp": cborTime(a.updated), "AlarmConfigurationUpdatedTimestamp": cborTime(a.updated),
		"ActionsEnabled": cbor.Bool(true),
		"Namespace":      cbor.String(a.Metric.Namespace), "MetricName": cbor.String(a.Metric.MetricName),
		"Dimensions": cborDims(a.Metric.Dimensions), "Statistic": cbor.String(a.Statistic),
		"Period": cbor.Uint(a.Period), "EvaluationPeriods": cbor.Uint(a.EvaluationPeriods),
		"Threshold": cbor.Float64(a.Threshold), "ComparisonOperator": cbor.String(a.ComparisonOperator),
		"TreatMissingData": cbor.String("missing"),
	}
}
