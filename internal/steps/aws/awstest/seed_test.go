package awstest_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/kafka"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/runbooks"
)

// rbStep and runbook are the parts of a runbook this test reads.
type rbStep struct {
	ID, Kind, Connection string
	With                 map[string]any
}

type runbook struct {
	Regions map[string]struct {
		CloudRegion string `yaml:"cloudRegion"`
	}
	Connections map[string]struct{ Type, Region string }
	Assess      []rbStep
	Phases      []struct{ Steps []rbStep }
}

var envRef = regexp.MustCompile(`\$\{env:([A-Z0-9_]+)\}`)

// expand resolves ${env:…} from env; a templated value (a later step's
// output) becomes nil, unknown until the run.
func expand(t *testing.T, v any, env map[string]string) any {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "{{") {
			return nil
		}
		var missing []string
		out := envRef.ReplaceAllStringFunc(x, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			val, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
		if len(missing) > 0 {
			t.Errorf("the seeds do not provide %v", missing)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expand(t, e, env)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = expand(t, e, env)
		}
		return out
	}
	return v
}

func str(w map[string]any, k string) string { s, _ := w[k].(string); return s }

// TestSeedsHoldWhatTheShippedRunbooksName checks every AWS step of the
// MAIP and Mimir runbooks against the seeded fake with the real SDK: the
// resources they name exist in the region of their connection, in the
// state a healthy, not yet failed-over deployment has.
func TestSeedsHoldWhatTheShippedRunbooksName(t *testing.T) {
	s, clk, m, mi := seeded(t)
	env := m.Env()
	for k, v := range mi.Env() {
		env[k] = v
	}
	checked := 0
	for _, file := range []string{"maip-region-failover.yaml", "maip-failback.yaml", "mimir-region-failover.yaml", "mimir-failback.yaml"} {
		data, err := runbooks.FS.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rb runbook
		if err := yaml.Unmarshal(data, &rb); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		all := rb.Assess
		for _, ph := range rb.Phases {
			all = append(all, ph.Steps...)
		}
		for _, st := range all {
			if !strings.HasPrefix(st.Kind, "aws.") {
				continue
			}
			region := rb.Regions[rb.Connections[st.Connection].Region].CloudRegion
			w := expand(t, st.With, env)
			t.Run(file+"/"+st.ID, func(t *testing.T) {
				checkStep(t, s, clk.Now(), st.Kind, region, w.(map[string]any))
			})
			checked++
		}
	}
	if checked != 38 { // grep -c "kind: aws\." runbooks/maip-*.yaml runbooks/mimir-*.yaml
		t.Errorf("checked %d AWS steps, want the runbooks' 38", checked)
	}
}

func checkStep(t *testing.T, s *awstest.Server, now time.Time, kind, region string, w map[string]any) {
	c := ctx(t)
	switch kind {
	case "aws.rds.instanceStatus", "aws.rds.promoteReadReplica":
		id := str(w, "dbInstanceIdentifier")
		if id == awstest.MAIPFailbackDB {
			return // created by the failback's createReadReplica
		}
		db := describeDB(t, rdsClient(s, region), id)
		if w["readReplica"] == true || kind == "aws.rds.promoteReadReplica" && id == awstest.MAIPDRReplica {
			if db.ReadReplicaSourceDBInstanceIdentifier == nil {
				t.Errorf("%s is not a read replica", id)
			}
		}
	case "aws.rds.createReadReplica":
		src := str(w, "sourceDbInstanceIdentifier")
		describeDB(t, rdsClient(s, region), src)
		if _, err := rdsClient(s, region).DescribeDBInstances(c, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(str(w, "dbInstanceIdentifier"))}); apiCode(err) != "DBInstanceNotFound" {
			t.Errorf("%s exists before the failback creates it: %v", str(w, "dbInstanceIdentifier"), err)
		}
		if key := str(w, "kmsKeyId"); !strings.Contains(key, ":"+region+":") {
			t.Errorf("kmsKeyId %q is not a key of %s", key, region)
		}
	case "aws.route53.upsertRecord", "aws.route53.shiftWeights":
		zone := zoneID(t, s, w)
		out, err := r53Client(s).ListResourceRecordSets(c, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone),
			StartRecordName: aws.String(str(w, "name")), StartRecordType: r53types.RRType(str(w, "type")), MaxItems: aws.Int32(1)})
		if err != nil || len(out.ResourceRecordSets) == 0 || aws.ToString(out.ResourceRecordSets[0].Name) != str(w, "name")+"." {
			t.Fatalf("no %s record %s in zone %s: %+v %v", str(w, "type"), str(w, "name"), zone, out, err)
		}
		if kind == "aws.route53.upsertRecord" {
			if a, ok := w["aliasTarget"].(map[string]any); ok {
				// The failover's own change: Route 53 must accept its alias.
				_, err := r53Client(s).ChangeResourceRecordSets(c, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zone),
					ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
						Name: aws.String(str(w, "name")), Type: r53types.RRType(str(w, "type")),
						AliasTarget: &r53types.AliasTarget{HostedZoneId: aws.String(str(a, "hostedZoneId")), DNSName: aws.String(str(a, "dnsName")), EvaluateTargetHealth: a["evaluateTargetHealth"] == true}}}}}})
				if err != nil {
					t.Errorf("the runbook's alias is refused: %v", err)
				}
			}
		}
		if gate, ok := w["healthGate"].(map[string]any); ok {
			for _, id := range gate["healthCheckIds"].([]any) {
				healthCheck(t, s, id.(string))
			}
		}
	case "aws.route53.healthCheck", "aws.route53.updateHealthCheck":
		healthCheck(t, s, str(w, "healthCheckId"))
	case "aws.ec2.regionStatus":
		out, err := ec2Client(s, region).DescribeRegions(c, &ec2.DescribeRegionsInput{RegionNames: []string{str(w, "regionName")}})
		if err != nil || len(out.Regions) != 1 {
			t.Errorf("region %s: %+v %v", str(w, "regionName"), out, err)
		}
	case "aws.eks.scaleNodegroup":
		if _, err := eksClient(s, region).DescribeNodegroup(c, &eks.DescribeNodegroupInput{ClusterName: aws.String(str(w, "clusterName")),
			NodegroupName: aws.String(str(w, "nodegroupName"))}); err != nil {
			t.Error(err)
		}
	case "aws.dynamodb.replicasActive":
		out, err := ddbClient(s, region).DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(str(w, "tableName"))})
		if err != nil {
			t.Fatal(err)
		}
		active := []string{}
		if out.Table.TableStatus == "ACTIVE" {
			active = append(active, region)
		}
		for _, r := range out.Table.Replicas {
			if r.ReplicaStatus == "ACTIVE" {
				active = append(active, aws.ToString(r.RegionName))
			}
		}
		for _, r := range w["regions"].([]any) {
			if !slices.Contains(active, r.(string)) {
				t.Errorf("no ACTIVE replica in %s (active: %v)", r, active)
			}
		}
	case "aws.cloudwatch.metricBelow":
		checkMetric(t, s, now, region, w)
	case "aws.s3.newestObjectAge":
		out, err := s3Client(s, region).ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(str(w, "bucket")), Prefix: aws.String(str(w, "prefix"))})
		if err != nil || len(out.Contents) == 0 {
			t.Fatalf("s3://%s/%s: %v %v", str(w, "bucket"), str(w, "prefix"), out, err)
		}
		maxAge, _ := time.ParseDuration(str(w, "maxAge"))
		var newest time.Time
		for _, o := range out.Contents {
			if o.LastModified.After(newest) {
				newest = *o.LastModified
			}
		}
		if age := now.Sub(newest); age > maxAge {
			t.Errorf("the newest object is %v old, over %v", age, maxAge)
		}
	case "aws.msk.replicatorRunning":
		out, err := kafkaClient(s, region).ListReplicators(c, &kafka.ListReplicatorsInput{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range out.Replicators {
			if strings.Contains(aws.ToString(r.ReplicatorName), str(w, "nameContains")) {
				n++
				if r.ReplicatorState != "RUNNING" {
					t.Errorf("%s is %s", aws.ToString(r.ReplicatorName), r.ReplicatorState)
				}
			}
		}
		if n == 0 {
			t.Errorf("no replicator matches %q in %s", str(w, "nameContains"), region)
		}
	default:
		t.Errorf("kind %s is not checked here", kind)
	}
}

func zoneID(t *testing.T, s *awstest.Server, w map[string]any) string {
	if id := str(w, "hostedZoneId"); id != "" {
		if _, err := r53Client(s).GetHostedZone(ctx(t), &route53.GetHostedZoneInput{Id: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	out, err := r53Client(s).ListHostedZonesByName(ctx(t), &route53.ListHostedZonesByNameInput{DNSName: aws.String(str(w, "zoneName"))})
	if err != nil || len(out.HostedZones) == 0 || aws.ToString(out.HostedZones[0].Name) != str(w, "zoneName")+"." {
		t.Fatalf("zone %s: %+v %v", str(w, "zoneName"), out, err)
	}
	return strings.TrimPrefix(aws.ToString(out.HostedZones[0].Id), "/hostedzone/")
}

func healthCheck(t *testing.T, s *awstest.Server, id string) {
	if _, err := r53Client(s).GetHealthCheck(ctx(t), &route53.GetHealthCheckInput{HealthCheckId: aws.String(id)}); err != nil {
		t.Errorf("health check %s: %v", id, err)
	}
}

func checkMetric(t *testing.T, s *awstest.Server, now time.Time, region string, w map[string]any) {
	period, _ := time.ParseDuration(str(w, "period"))
	window, _ := time.ParseDuration(str(w, "window"))
	var dims []cwtypes.Dimension
	for k, v := range w["dimensions"].(map[string]any) {
		dims = append(dims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(v.(string))})
	}
	out, err := cwClient(s, region).GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String(str(w, "namespace")), MetricName: aws.String(str(w, "metricName")), Dimensions: dims,
		StartTime: aws.Time(now.Add(-window)), EndTime: aws.Time(now), Period: aws.Int32(int32(period / time.Second)),
		Statistics: []cwtypes.Statistic{cwtypes.Statistic(str(w, "statistic"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Datapoints) == 0 {
		t.Fatalf("no datapoint of %s %s %v in %s", str(w, "namespace"), str(w, "metricName"), w["dimensions"], region)
	}
	newest := out.Datapoints[0]
	for _, dp := range out.Datapoints {
		if dp.Timestamp.After(*newest.Timestamp) {
			newest = dp
		}
	}
	v := map[string]*float64{"Average": newest.Average, "Maximum": newest.Maximum, "Minimum": newest.Minimum, "Sum": newest.Sum}[str(w, "statistic")]
	threshold := fmt.Sprint(w["threshold"])
	var th float64
	fmt.Sscan(threshold, &th)
	if v == nil || *v >= th {
		t.Errorf("newest %s = %v, want below %v", str(w, "statistic"), v, th)
	}
}
