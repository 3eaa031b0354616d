package awstest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

var cloudwatchService = &service{
	name:  "cloudwatch",
	proto: protoCBOR,
	ops: map[string]opFunc{
		"GetMetricData":       (*Server).cwGetMetricData,
		"GetMetricStatistics": (*Server).cwGetMetricStatistics,
		"DescribeAlarms":      (*Server).cwDescribeAlarms,
	},
}

// Point is one sample of a metric.
type Point struct {
	Time  time.Time
	Value float64
}

// Metric names a CloudWatch metric: namespace, name and the exact set of
// dimensions.
type Metric struct {
	Namespace, MetricName string
	Dimensions            map[string]string
	// Unit, e.g. Milliseconds, Seconds (default None).
	Unit string
}

type metricSeries struct {
	Metric
	points []Point
}

func sameDims(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// PutMetricData adds samples to a metric in region (as the service that
// publishes it would).
func (s *Server) PutMetricData(region string, m Metric, points ...Point) {
	if m.Unit == "" {
		m.Unit = "None"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(region)
	for _, ms := range r.metrics {
		if ms.Namespace == m.Namespace && ms.MetricName == m.MetricName && sameDims(ms.Dimensions, m.Dimensions) {
			ms.points = append(ms.points, points...)
			return
		}
	}
	r.metrics = append(r.metrics, &metricSeries{Metric: m, points: slices.Clone(points)})
}

// stat is one aggregated period.
type stat struct {
	start                time.Time
	count, sum, min, max float64
	values               []float64
}

func (st *stat) value(name string) (float64, bool) {
	switch name {
	case "SampleCount":
		return st.count, true
	case "Sum":
		return st.sum, true
	case "Average":
		return st.sum / st.count, true
	case "Minimum":
		return st.min, true
	case "Maximum":
		return st.max, true
	}
	var p float64
	if _, err := fmt.Sscanf(name, "p%g", &p); err == nil && p >= 0 && p <= 100 {
		v := slices.Clone(st.values)
		sort.Float64s(v)
		i := int(math.Ceil(p/100*float64(len(v)))) - 1
		return v[max(i, 0)], true
	}
	return 0, false
}

// aggregate buckets the samples of m in [start, end) into periods.
func (s *Server) aggregate(region string, m Metric, start, end time.Time, period time.Duration) []*stat {
	var series *metricSeries
	for _, ms := range s.region(region).metrics {
		if ms.Namespace == m.Namespace && ms.MetricName == m.MetricName && sameDims(ms.Dimensions, m.Dimensions) {
			series = ms
		}
	}
	if series == nil {
		return nil
	}
	buckets := map[int64]*stat{}
	for _, p := range series.points {
		if p.Time.Before(start) || !p.Time.Before(end) {
			continue
		}
		k := int64(p.Time.Sub(start) / period)
		b := buckets[k]
		if b == nil {
			b = &stat{start: start.Add(time.Duration(k) * period), min: p.Value, max: p.Value}
			buckets[k] = b
		}
		b.count++
		b.sum += p.Value
		b.min, b.max = math.Min(b.min, p.Value), math.Max(b.max, p.Value)
		b.values = append(b.values, p.Value)
	}
	out := make([]*stat, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, b)
	}
	// CloudWatch does not order datapoints; newest first here.
	sort.Slice(out, func(i, j int) bool { return out[i].start.After(out[j].start) })
	return out
}

// checkPeriod is CloudWatch's rule for a period in seconds.
func checkPeriod(p int64) *apiError {
	if p < 1 || (p < 60 && p != 1 && p != 5 && p != 10 && p != 30) || (p >= 60 && p%60 != 0) {
		return &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
			message: "The parameter Period must be 1, 5, 10, 30, or a multiple of 60."}
	}
	return nil
}

func missing(name string) *apiError {
	return &apiError{status: 400, code: "MissingParameter", shape: "MissingRequiredParameterException",
		message: fmt.Sprintf("The parameter %s is required.", name)}
}

func (s *Server) cwGetMetricStatistics(c *call) (any, *apiError) {
	in, err := cborInput(c.body)
	if err != nil {
		return nil, err
	}
	m := Metric{Namespace: in.str("Namespace"), MetricName: in.str("MetricName"), Dimensions: in.dims("Dimensions")}
	start, end := in.time("StartTime"), in.time("EndTime")
	period := in.int("Period")
	stats := append(in.strs("Statistics"), in.strs("ExtendedStatistics")...)
	for name, ok := range map[string]bool{"Namespace": m.Namespace != "", "MetricName": m.MetricName != "",
		"StartTime": !start.IsZero(), "EndTime": !end.IsZero(), "Period": period != 0} {
		if !ok {
			return nil, missing(name)
		}
	}
	if len(stats) == 0 {
		return nil, &apiError{status: 400, code: "MissingParameter", shape: "MissingRequiredParameterException",
			message: "Must specify either Statistics or ExtendedStatistics."}
	}
	if e := checkPeriod(period); e != nil {
		return nil, e
	}
	if !start.Before(end) {
		return nil, &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
			message: "The parameter StartTime must be less than the parameter EndTime."}
	}
	if n := int64(end.Sub(start)/time.Second) / period; n > 1440 {
		return nil, &apiError{status: 400, code: "InvalidParameterCombination", shape: "InvalidParameterCombinationException",
			message: fmt.Sprintf("You have requested up to %d datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", n)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var unit string
	for _, ms := range s.region(c.region).metrics {
		if ms.Namespace == m.Namespace && ms.MetricName == m.MetricName && sameDims(ms.Dimensions, m.Dimensions) {
			unit = ms.Unit
		}
	}
	points := cbor.List{}
	for _, b := range s.aggregate(c.region, m, start, end, time.Duration(period)*time.Second) {
		dp := cbor.Map{"Timestamp": cborTime(b.start), "Unit": cbor.String(unit)}
		ext := cbor.Map{}
		for _, st := range stats {
			v, ok := b.value(st)
			if !ok {
				return nil, &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
					message: fmt.Sprintf("The value %s for parameter Statistics is not valid.", st)}
			}
			if st[0] == 'p' {
				ext[st] = cbor.Float64(v)
			} else {
				dp[st] = cbor.Float64(v)
			}
		}
		if len(ext) > 0 {
			dp["ExtendedStatistics"] = ext
		}
		points = append(points, dp)
	}
	return cbor.Map{"Label": cbor.String(m.MetricName), "Datapoints": points}, nil
}

func (s *Server) cwGetMetricData(c *call) (any, *apiError) {
	in, err := cborInput(c.body)
	if err != nil {
		return nil, err
	}
	start, end := in.time("StartTime"), in.time("EndTime")
	if start.IsZero() {
		return nil, missing("StartTime")
	}
	if end.IsZero() {
		return nil, missing("EndTime")
	}
	queries := in.list("MetricDataQueries")
	if len(queries) == 0 {
		return nil, missing("MetricDataQueries")
	}
	ascending := in.str("ScanBy") == "TimestampAscending"
	s.mu.Lock()
	defer s.mu.Unlock()
	results := cbor.List{}
	for _, q := range queries {
		id := q.str("Id")
		if q.str("Expression") != "" {
			return nil, &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
				message: "awstest: metric math expressions are not served"}
		}
		ms := q.obj("MetricStat")
		mt := ms.obj("Metric")
		m := Metric{Namespace: mt.str("Namespace"), MetricName: mt.str("MetricName"), Dimensions: mt.dims("Dimensions")}
		period, statName := ms.int("Period"), ms.str("Stat")
		if id == "" || m.MetricName == "" || statName == "" {
			return nil, missing("MetricDataQueries.member.Id, MetricStat.Metric.MetricName and MetricStat.Stat")
		}
		if e := checkPeriod(period); e != nil {
			return nil, e
		}
		buckets := s.aggregate(c.region, m, start, end, time.Duration(period)*time.Second)
		if ascending {
			slices.Reverse(buckets)
		}
		ts, vs := cbor.List{}, cbor.List{}
		for _, b := range buckets {
			v, ok := b.value(statName)
			if !ok {
				return nil, &apiError{status: 400, code: "InvalidParameterValue", shape: "InvalidParameterValueException",
					message: fmt.Sprintf("The value %s for parameter MetricDataQueries.member.MetricStat.Stat is not valid.", statName)}
			}
			ts, vs = append(ts, cborTime(b.start)), append(vs, cbor.Float64(v))
		}
		label := q.str("Label")
		if label == "" {
			label = m.MetricName
		}
		if rd, ok := q["ReturnData"].(cbor.Bool); ok && !bool(rd) {
			continue
		}
		results = append(results, cbor.Map{"Id": cbor.String(id), "Label": cbor.String(label),
			"Timestamps": ts, "Values": vs, "StatusCode": cbor.String("Complete"), "Messages": cbor.List{}})
	}
	return cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}, nil
}
