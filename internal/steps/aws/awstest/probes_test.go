package awstest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kafka"
	kafkatypes "github.com/aws/aws-sdk-go-v2/service/kafka/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

func TestDescribeRegionsReportsOptInStatus(t *testing.T) {
	s, _, _, _ := seeded(t)
	c := ec2Client(s, east)
	out, err := c.DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{RegionNames: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Regions) != 1 || aws.ToString(out.Regions[0].RegionName) != "us-east-1" ||
		aws.ToString(out.Regions[0].OptInStatus) != "opt-in-not-required" || aws.ToString(out.Regions[0].Endpoint) != "ec2.us-east-1.amazonaws.com" {
		t.Fatalf("regions = %+v", out.Regions)
	}
	enabled, err := c.DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	hasRegion := func(rs *ec2.DescribeRegionsOutput, name string) bool {
		for _, r := range rs.Regions {
			if aws.ToString(r.RegionName) == name {
				return true
			}
		}
		return false
	}
	if hasRegion(enabled, "af-south-1") || !hasRegion(all, "af-south-1") || len(all.Regions) <= len(enabled.Regions) {
		t.Errorf("not-opted-in af-south-1: listed by default %v, with AllRegions %v", hasRegion(enabled, "af-south-1"), hasRegion(all, "af-south-1"))
	}
	if err := s.SetRegionOptIn("af-south-1", "opted-in"); err != nil {
		t.Fatal(err)
	}
	if again, err := c.DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{}); err != nil || !hasRegion(again, "af-south-1") {
		t.Errorf("after opting in: listed %v (err %v)", again != nil && hasRegion(again, "af-south-1"), err)
	}
	_, err = c.DescribeRegions(ctx(t), &ec2.DescribeRegionsInput{RegionNames: []string{"us-nowhere-1"}})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown region: err = %v, want InvalidParameterValue", err)
	}
}

func TestDescribeTableListsTheOtherRegionsReplicas(t *testing.T) {
	s, _, _, _ := seeded(t)
	out, err := ddbClient(s, west).DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String(awstest.MAIPTable)})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if tb.TableStatus != ddbtypes.TableStatusActive || aws.ToString(tb.GlobalTableVersion) != "2019.11.21" || tb.CreationDateTime == nil {
		t.Fatalf("table = %+v", tb)
	}
	if len(tb.Replicas) != 1 || aws.ToString(tb.Replicas[0].RegionName) != east || tb.Replicas[0].ReplicaStatus != ddbtypes.ReplicaStatusActive {
		t.Fatalf("replicas = %+v", tb.Replicas)
	}
	if err := s.SetReplicaStatus(east, awstest.MAIPTable, "REGION_DISABLED"); err != nil {
		t.Fatal(err)
	}
	out, err = ddbClient(s, west).DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String(awstest.MAIPTable)})
	if err != nil || out.Table.Replicas[0].ReplicaStatus != ddbtypes.ReplicaStatusRegionDisabled {
		t.Errorf("after disabling us-east-1: %+v (err %v)", out, err)
	}
	_, err = ddbClient(s, west).DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
	var nf *ddbtypes.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "Table: nope not found") {
		t.Errorf("unknown table: err = %v, want ResourceNotFoundException", err)
	}
}

func TestListAndDescribeReplicators(t *testing.T) {
	s, _, _, _ := seeded(t)
	c := kafkaClient(s, west)
	out, err := c.ListReplicators(ctx(t), &kafka.ListReplicatorsInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	var own *kafkatypes.ReplicatorSummary
	for i, r := range out.Replicators {
		got[aws.ToString(r.ReplicatorName)] = aws.ToBool(r.IsReplicatorReference)
		if r.ReplicatorState != kafkatypes.ReplicatorStateRunning || r.CreationTime == nil || len(r.KafkaClustersSummary) != 2 {
			t.Errorf("summary = %+v", r)
		}
		if !aws.ToBool(r.IsReplicatorReference) {
			own = &out.Replicators[i]
		}
	}
	if len(got) != 2 || got["maip-prod-east-to-west"] || !got["maip-prod-west-to-east"] {
		t.Fatalf("replicators in us-west-2 (name → is a reference) = %v", got)
	}
	page, err := c.ListReplicators(ctx(t), &kafka.ListReplicatorsInput{ReplicatorNameFilter: aws.String("maip-prod-east"), MaxResults: aws.Int32(1)})
	if err != nil || len(page.Replicators) != 1 || page.NextToken != nil {
		t.Errorf("filtered: %+v (err %v)", page, err)
	}
	if err := s.SetReplicatorState(west, "maip-prod-east-to-west", "FAILED"); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeReplicator(ctx(t), &kafka.DescribeReplicatorInput{ReplicatorArn: own.ReplicatorArn})
	if err != nil {
		t.Fatal(err)
	}
	if d.ReplicatorState != kafkatypes.ReplicatorStateFailed || d.StateInfo == nil || len(d.KafkaClusters) != 2 || len(d.ReplicationInfoList) != 1 {
		t.Errorf("described = state %s info %+v", d.ReplicatorState, d.StateInfo)
	}
	_, err = c.DescribeReplicator(ctx(t), &kafka.DescribeReplicatorInput{ReplicatorArn: aws.String("arn:aws:kafka:us-west-2:123456789012:replicator/nope/x")})
	var nf *kafkatypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown replicator: err = %v, want NotFoundException", err)
	}
}

func TestCloudWatchServesSeededMetricsOverCBOR(t *testing.T) {
	s, clk, _, _ := seeded(t)
	now := clk.Now()
	c := cwClient(s, east)
	dims := []cwtypes.Dimension{{Name: aws.String("TableName"), Value: aws.String(awstest.MAIPTable)}, {Name: aws.String("ReceivingRegion"), Value: aws.String(west)}}
	st, err := c.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("AWS/DynamoDB"), MetricName: aws.String("ReplicationLatency"), Dimensions: dims,
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(300),
		Statistics: []cwtypes.Statistic{cwtypes.StatisticAverage, cwtypes.StatisticMaximum},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Datapoints) != 12 || aws.ToString(st.Label) != "ReplicationLatency" {
		t.Fatalf("%d datapoints, label %q; want 12 five-minute periods", len(st.Datapoints), aws.ToString(st.Label))
	}
	for _, dp := range st.Datapoints {
		if dp.Timestamp == nil || aws.ToFloat64(dp.Average) < 850 || aws.ToFloat64(dp.Maximum) < aws.ToFloat64(dp.Average) || dp.Unit != cwtypes.StandardUnitMilliseconds {
			t.Errorf("datapoint = %+v", dp)
		}
	}
	md, err := c.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(now.Add(-10 * time.Minute)), EndTime: aws.Time(now),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("lat"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/DynamoDB"), MetricName: aws.String("ReplicationLatency"), Dimensions: dims},
			Period: aws.Int32(60), Stat: aws.String("Average")}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := md.MetricDataResults[0]
	if aws.ToString(r.Id) != "lat" || r.StatusCode != cwtypes.StatusCodeComplete || len(r.Timestamps) != 10 || len(r.Values) != 10 ||
		!r.Timestamps[0].After(r.Timestamps[9]) {
		t.Errorf("metric data = %+v (timestamps newest first by default)", r)
	}
	// The metric is published in the sending region only.
	other, err := cwClient(s, "eu-west-1").GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("AWS/DynamoDB"), MetricName: aws.String("ReplicationLatency"), Dimensions: dims,
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(300), Statistics: []cwtypes.Statistic{cwtypes.StatisticAverage}})
	if err != nil || len(other.Datapoints) != 0 {
		t.Errorf("eu-west-1: %v datapoints (err %v), want none", other, err)
	}
	_, err = c.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("AWS/DynamoDB"), MetricName: aws.String("ReplicationLatency"),
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now), Period: aws.Int32(45), Statistics: []cwtypes.Statistic{cwtypes.StatisticAverage}})
	var ip *cwtypes.InvalidParameterValueException
	if !errors.As(err, &ip) || ip.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("a 45 s period: err = %v, want InvalidParameterValue", err)
	}
}

func TestDescribeAlarmsReportsStates(t *testing.T) {
	s, _, _, _ := seeded(t)
	c := cwClient(s, east)
	get := func() cwtypes.StateValue {
		out, err := c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"maip-prod-api-5xx"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateUpdatedTimestamp == nil {
			t.Fatalf("alarms = %+v", out.MetricAlarms)
		}
		return out.MetricAlarms[0].StateValue
	}
	if st := get(); st != cwtypes.StateValueOk {
		t.Errorf("seeded state %s, want OK", st)
	}
	if err := s.SetAlarmState(east, "maip-prod-api-5xx", "ALARM", "Threshold Crossed"); err != nil {
		t.Fatal(err)
	}
	if st := get(); st != cwtypes.StateValueAlarm {
		t.Errorf("state %s, want ALARM", st)
	}
	out, err := c.DescribeAlarms(ctx(t), &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueOk})
	if err != nil || len(out.MetricAlarms) != 0 {
		t.Errorf("alarms in OK: %+v (err %v), want none", out, err)
	}
}

func TestListObjectsV2ShowsSeededLastModified(t *testing.T) {
	s, clk, _, _ := seeded(t)
	c := s3Client(s, west)
	out, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(awstest.MimirBackups), Prefix: aws.String("postgres/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 4 {
		t.Fatalf("%d objects under postgres/, want 4", len(out.Contents))
	}
	var newest time.Time
	for _, o := range out.Contents {
		if o.LastModified.After(newest) {
			newest = *o.LastModified
		}
	}
	if age := clk.Now().Sub(newest); age != 6*time.Hour {
		t.Errorf("newest backup is %v old, want 6h", age)
	}
	if _, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(awstest.MimirBackups), Key: aws.String("postgres/base-now.tar.gz"),
		Body: strings.NewReader("now")}); err != nil {
		t.Fatal(err)
	}
	out, err = c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(awstest.MimirBackups), Prefix: aws.String("postgres/base-now")})
	if err != nil || len(out.Contents) != 1 || !out.Contents[0].LastModified.Equal(clk.Now().Truncate(time.Second)) {
		t.Errorf("object put over the wire: %+v (err %v), want stamped with the server's clock", out, err)
	}
	_, err = c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String("nope")})
	if apiCode(err) != "NoSuchBucket" {
		t.Errorf("unknown bucket: err = %v, want NoSuchBucket", err)
	}
}

func TestSTSIdentityAndAssumedRole(t *testing.T) {
	s, _, _, _ := seeded(t)
	c := stsClient(s)
	id, err := c.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != s.AccountID() || aws.ToString(id.Arn) != "arn:aws:iam::"+s.AccountID()+":user/test" {
		t.Errorf("identity = %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	role := "arn:aws:iam::" + s.AccountID() + ":role/failover-bot"
	ar, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("run-42")})
	if err != nil {
		t.Fatal(err)
	}
	cr := ar.Credentials
	cfg := config(s, east)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	as, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + s.AccountID() + ":assumed-role/failover-bot/run-42"; aws.ToString(as.Arn) != want {
		t.Errorf("assumed identity = %s, want %s", aws.ToString(as.Arn), want)
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), "forged")
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("a wrong session token: err = %v, want InvalidClientTokenId", err)
	}
	_, err = c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999999999999:role/x"), RoleSessionName: aws.String("s")})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:AssumeRole on resource: arn:aws:iam::999999999999:role/x") {
		t.Errorf("a role of another account: err = %v, want AccessDenied naming it", err)
	}
}
