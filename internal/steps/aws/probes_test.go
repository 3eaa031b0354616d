package aws

import (
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func TestRegionStatusUpAndDown(t *testing.T) {
	l := newLab(t, awstest.Options{})
	up := stepstest.Build(t, register, "aws.ec2.regionStatus", &RegionStatusConfig{RegionName: east, CallTimeout: "300ms"}, l.conn(east))
	down := stepstest.Build(t, register, "aws.ec2.regionStatus", &RegionStatusConfig{RegionName: east, Expect: ExpectDown, CallTimeout: "300ms"}, l.conn(east))
	if res := stepstest.Check(t, up); !res.Done || res.Outputs["optInStatus"] != "opt-in-not-required" {
		t.Errorf("up, expect up: %+v", res)
	}
	if res := stepstest.Check(t, down); res.Done || !strings.HasSuffix(res.Summary, "(expected down)") {
		t.Errorf("up, expect down: %+v", res)
	}
	restore := l.RegionOutage(east)
	var res steps.Result
	within(t, 1300*time.Millisecond, "a dead region's probe", func() { res = stepstest.Check(t, down) })
	if !res.Done || !strings.Contains(res.Summary, "does not answer (within 300ms)") {
		t.Errorf("dead, expect down: %+v", res)
	}
	if res := stepstest.Check(t, up); res.Done {
		t.Errorf("dead, expect up: %+v, want not done (and no error)", res)
	}
	restore()
	f := l.Inject(awstest.Fault{Op: "ec2:DescribeRegions", Kind: awstest.FaultServerError})
	if res := stepstest.Check(t, down); !res.Done || !strings.Contains(res.Summary, "answers only with errors (InternalError)") {
		t.Errorf("5xx, expect down: %+v", res)
	}
	f.Remove()
	l.Inject(awstest.Fault{Op: "ec2:DescribeRegions", Kind: awstest.FaultAccessDenied})
	_, err := check(t, down)
	wantPermanent(t, err, "access denied: ec2:DescribeRegions")
	l.ClearFaults()
	optIn := stepstest.Build(t, register, "aws.ec2.regionStatus", &RegionStatusConfig{RegionName: "af-south-1", Expect: ExpectDown}, l.conn(east))
	if res := stepstest.Check(t, optIn); !res.Done || res.Outputs["optInStatus"] != "not-opted-in" {
		t.Errorf("a region not opted in: %+v", res)
	}
}

func TestReplicasActive(t *testing.T) {
	l := newLab(t, awstest.Options{})
	p := stepstest.Build(t, register, "aws.dynamodb.replicasActive", &ReplicasActiveConfig{TableName: awstest.MAIPTable, Regions: []string{east, west}}, l.conn(west))
	if res := stepstest.Check(t, p); !res.Done || res.Outputs["replicas"] != "us-east-1=ACTIVE,us-west-2=ACTIVE" {
		t.Errorf("healthy: %+v", res)
	}
	if err := l.SetReplicaStatus(east, awstest.MAIPTable, "UPDATING"); err != nil {
		t.Fatal(err)
	}
	if res := stepstest.Check(t, p); res.Done || res.Summary != "table maip-prod-merchant-analytics: replica us-east-1 UPDATING (expected ACTIVE)" {
		t.Errorf("an updating replica: %+v", res)
	}
	three := stepstest.Build(t, register, "aws.dynamodb.replicasActive", &ReplicasActiveConfig{TableName: awstest.MAIPTable, Regions: []string{"eu-west-1"}}, l.conn(west))
	if res := stepstest.Check(t, three); res.Done || res.Outputs["replicas"] != "eu-west-1=NONE" {
		t.Errorf("no replica there: %+v", res)
	}
	_, err := check(t, stepstest.Build(t, register, "aws.dynamodb.replicasActive", &ReplicasActiveConfig{TableName: "nope-table", Regions: []string{west}}, l.conn(west)))
	wantPermanent(t, err, "no DynamoDB table nope-table")
	l.Inject(awstest.Fault{Op: "dynamodb:DescribeTable", Kind: awstest.FaultThrottle, Times: 3})
	if res := stepstest.Check(t, three); res.Done {
		t.Errorf("after throttling: %+v", res)
	}
}

func TestMetricConditions(t *testing.T) {
	l := newLab(t, awstest.Options{})
	latency := func(cmp string, missing string, receiving string) *MetricConfig {
		return &MetricConfig{Namespace: "AWS/DynamoDB", MetricName: "ReplicationLatency", Dimensions: map[string]string{"TableName": awstest.MAIPTable, "ReceivingRegion": receiving},
			Period: "5m", Window: "1h", Comparison: cmp, Threshold: ptr(5000.0), Missing: missing}
	}
	below := stepstest.Build(t, register, "aws.cloudwatch.metric", latency(CompareBelow, "", west), l.conn(east))
	res := stepstest.Check(t, below)
	if !res.Done || res.Outputs["value"] == "" || res.Outputs["timestamp"] == "" || !strings.Contains(res.Summary, "Average below 5000 met") {
		t.Errorf("latency below 5000: %+v", res)
	}
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metric", latency(CompareAtOrAbove, "", west), l.conn(east))); res.Done || !strings.Contains(res.Summary, "not met") {
		t.Errorf("latency at or above 5000: %+v", res)
	}
	// The spelling of the shipped runbooks.
	spelled := &MetricBelowConfig{MetricConfig: *latency("", "", west)}
	spelled.Comparison = ""
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metricBelow", spelled, l.conn(east))); !res.Done {
		t.Errorf("metricBelow: %+v", res)
	}
	// A metric of no datapoints: missing decides.
	none := latency(CompareBelow, MissingFail, "eu-west-1")
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metric", none, l.conn(east))); res.Done || res.Outputs["value"] != "" || !strings.Contains(res.Summary, "no datapoint") {
		t.Errorf("no data, missing fail: %+v", res)
	}
	ok := latency(CompareBelow, MissingOK, "eu-west-1")
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metric", ok, l.conn(east))); !res.Done {
		t.Errorf("no data, missing ok: %+v", res)
	}
	// RDS ReplicaLag below 30 s, and an ALB 5xx count above 100 over 5 minutes.
	l.PutMetricData(west, awstest.Metric{Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count", Dimensions: map[string]string{"LoadBalancer": "app/maip/1"}},
		awstest.Point{Time: time.Now().Add(-2 * time.Minute), Value: 80}, awstest.Point{Time: time.Now().Add(-time.Minute), Value: 70})
	alb := &MetricConfig{Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count", Dimensions: map[string]string{"LoadBalancer": "app/maip/1"},
		Statistic: "Sum", Period: "5m", Window: "5m", Comparison: CompareAbove, Threshold: ptr(100.0)}
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metric", alb, l.conn(west))); !res.Done || res.Outputs["value"] != "150" {
		t.Errorf("5xx above 100 over 5m: %+v", res)
	}
	lag := &MetricConfig{Namespace: "AWS/RDS", MetricName: "ReplicaLag", Dimensions: map[string]string{"DBInstanceIdentifier": awstest.MAIPDRReplica},
		Statistic: "Maximum", Period: "1m", Window: "10m", Comparison: CompareBelow, Threshold: ptr(30.0)}
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.cloudwatch.metric", lag, l.conn(west))); !res.Done {
		t.Errorf("replica lag below 30s: %+v", res)
	}
	l.Inject(awstest.Fault{Op: "cloudwatch:GetMetricData", Kind: awstest.FaultAccessDenied})
	_, err := check(t, below)
	wantPermanent(t, err, "access denied: cloudwatch:GetMetricData")
}

func TestAlarmState(t *testing.T) {
	l := newLab(t, awstest.Options{})
	ok := stepstest.Build(t, register, "aws.cloudwatch.alarmState", &AlarmStateConfig{AlarmNames: []string{"maip-prod-api-5xx"}}, l.conn(west))
	alarm := stepstest.Build(t, register, "aws.cloudwatch.alarmState", &AlarmStateConfig{AlarmNames: []string{"maip-prod-api-5xx"}, Expect: AlarmAlarm}, l.conn(west))
	if res := stepstest.Check(t, ok); !res.Done || res.Outputs["states"] != "maip-prod-api-5xx=OK" {
		t.Errorf("OK: %+v", res)
	}
	if err := l.SetAlarmState(west, "maip-prod-api-5xx", "ALARM", "threshold crossed"); err != nil {
		t.Fatal(err)
	}
	if res := stepstest.Check(t, ok); res.Done || res.Summary != "maip-prod-api-5xx is ALARM (expected OK)" {
		t.Errorf("ALARM, expect OK: %+v", res)
	}
	if res := stepstest.Check(t, alarm); !res.Done {
		t.Errorf("ALARM, expect ALARM: %+v", res)
	}
	_, err := check(t, stepstest.Build(t, register, "aws.cloudwatch.alarmState", &AlarmStateConfig{AlarmNames: []string{"nope"}}, l.conn(west)))
	wantPermanent(t, err, "no CloudWatch alarm named nope in us-west-2")
}

func TestNewestObjectAge(t *testing.T) {
	l := newLab(t, awstest.Options{})
	p := stepstest.Build(t, register, "aws.s3.newestObjectAge", &NewestObjectAgeConfig{Bucket: awstest.MimirBackups, Prefix: "postgres/", MaxAge: "26h"}, l.conn(west))
	res := stepstest.Check(t, p)
	age, _ := time.ParseDuration(res.Outputs["age"])
	if !res.Done || !strings.HasPrefix(res.Outputs["key"], "postgres/base-") || age < 6*time.Hour-time.Minute || age > 6*time.Hour+time.Minute {
		t.Errorf("newest backup: %+v, want about 6h old", res)
	}
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.s3.newestObjectAge", &NewestObjectAgeConfig{Bucket: awstest.MimirBackups, Prefix: "postgres/", MaxAge: "1h"}, l.conn(west))); res.Done || !strings.Contains(res.Summary, "(expected at most 1h)") {
		t.Errorf("max age 1h: %+v", res)
	}
	if res := stepstest.Check(t, stepstest.Build(t, register, "aws.s3.newestObjectAge", &NewestObjectAgeConfig{Bucket: awstest.MimirBackups, Prefix: "none/", MaxAge: "1h"}, l.conn(west))); res.Done || !strings.Contains(res.Summary, "no object under") {
		t.Errorf("empty prefix: %+v", res)
	}
	_, err := check(t, stepstest.Build(t, register, "aws.s3.newestObjectAge", &NewestObjectAgeConfig{Bucket: "no-such-bucket", MaxAge: "1h"}, l.conn(west)))
	wantPermanent(t, err, "no S3 bucket no-such-bucket")
	l.Inject(awstest.Fault{Op: "s3:ListObjectsV2", Kind: awstest.FaultAccessDenied})
	_, err = check(t, p)
	wantPermanent(t, err, "access denied: s3:ListBucket on arn:aws:s3:::mimir-backups-dr")
}

func TestReplicatorRunning(t *testing.T) {
	l := newLab(t, awstest.Options{})
	p := stepstest.Build(t, register, "aws.msk.replicatorRunning", &ReplicatorRunningConfig{NameContains: "maip"}, l.conn(west))
	res := stepstest.Check(t, p)
	if !res.Done || res.Outputs["replicators"] != "maip-prod-east-to-west=RUNNING,maip-prod-west-to-east=RUNNING" {
		t.Errorf("both RUNNING: %+v", res)
	}
	if err := l.SetReplicatorState(west, "maip-prod-east-to-west", "FAILED"); err != nil {
		t.Fatal(err)
	}
	if res := stepstest.Check(t, p); res.Done || res.Summary != "MSK replicators not RUNNING: maip-prod-east-to-west FAILED" {
		t.Errorf("one FAILED: %+v", res)
	}
	two := stepstest.Build(t, register, "aws.msk.replicatorRunning", &ReplicatorRunningConfig{Name: "maip-prod-west-to-east", MinCount: ptr(2)}, l.conn(west))
	if res := stepstest.Check(t, two); res.Done || !strings.Contains(res.Summary, "1 MSK replicators match maip-prod-west-to-east") {
		t.Errorf("min count 2: %+v", res)
	}
}

func TestProbesHonourTheirDeadlines(t *testing.T) {
	l := newLab(t, awstest.Options{})
	l.HangRegion(west)
	for _, tc := range []struct {
		kind string
		cfg  steps.Config
	}{
		{"aws.dynamodb.replicasActive", &ReplicasActiveConfig{TableName: awstest.MAIPTable, Regions: []string{west}, CallTimeout: "300ms"}},
		{"aws.cloudwatch.metric", &MetricConfig{Namespace: "A", MetricName: "B", Threshold: ptr(1.0), CallTimeout: "300ms"}},
		{"aws.cloudwatch.alarmState", &AlarmStateConfig{AlarmNames: []string{"a"}, CallTimeout: "300ms"}},
		{"aws.s3.newestObjectAge", &NewestObjectAgeConfig{Bucket: awstest.MimirBackups, MaxAge: "1h", CallTimeout: "300ms"}},
		{"aws.msk.replicatorRunning", &ReplicatorRunningConfig{NameContains: "maip", CallTimeout: "300ms"}},
		{"aws.ec2.regionStatus", &RegionStatusConfig{RegionName: west, CallTimeout: "300ms"}},
	} {
		p := stepstest.Build(t, register, tc.kind, tc.cfg, l.conn(west))
		var err error
		var res steps.Result
		within(t, 1300*time.Millisecond, tc.kind, func() { res, err = check(t, p) })
		if tc.kind == "aws.ec2.regionStatus" {
			if err != nil || res.Done {
				t.Errorf("%s: %+v, %v; want not done (expect up), no error", tc.kind, res, err)
			}
			continue
		}
		wantTransient(t, err, "no answer within the call timeout 300ms")
	}
}
