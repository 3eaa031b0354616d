package awstest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/kafka"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// probe is one call per service, as a step kind would make it.
type probe struct {
	op, region string
	call       func(context.Context, func(region string) aws.Config) error
}

func probes(m awstest.MAIP, mi awstest.Mimir) []probe {
	return []probe{
		{"rds:DescribeDBInstances", west, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := rds.NewFromConfig(cfg(west)).DescribeDBInstances(c, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
			return err
		}},
		{"ec2:DescribeRegions", east, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := ec2.NewFromConfig(cfg(east)).DescribeRegions(c, &ec2.DescribeRegionsInput{RegionNames: []string{east}})
			return err
		}},
		{"route53:GetHostedZone", "", func(c context.Context, cfg func(string) aws.Config) error {
			_, err := route53.NewFromConfig(cfg(east)).GetHostedZone(c, &route53.GetHostedZoneInput{Id: aws.String(m.ZoneID)})
			return err
		}},
		{"route53:ChangeResourceRecordSets", "", func(c context.Context, cfg func(string) aws.Config) error {
			_, err := route53.NewFromConfig(cfg(east)).ChangeResourceRecordSets(c, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(mi.ZoneID),
				ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
					Name: aws.String(awstest.MimirAPIName), Type: r53types.RRTypeCname, TTL: aws.Int64(60),
					ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("dr.example.com")}}}}}}})
			return err
		}},
		{"eks:UpdateNodegroupConfig", west, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := eks.NewFromConfig(cfg(west)).UpdateNodegroupConfig(c, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String(awstest.MAIPDRCluster),
				NodegroupName: aws.String(awstest.MAIPDRNodes), ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(3)}})
			return err
		}},
		{"kafka:ListReplicators", west, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := kafka.NewFromConfig(cfg(west)).ListReplicators(c, &kafka.ListReplicatorsInput{})
			return err
		}},
		{"dynamodb:DescribeTable", west, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := dynamodb.NewFromConfig(cfg(west)).DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(awstest.MAIPTable)})
			return err
		}},
		{"cloudwatch:GetMetricStatistics", east, func(c context.Context, cfg func(string) aws.Config) error {
			now := time.Now()
			_, err := cloudwatch.NewFromConfig(cfg(east)).GetMetricStatistics(c, &cloudwatch.GetMetricStatisticsInput{Namespace: aws.String("AWS/DynamoDB"),
				MetricName: aws.String("ReplicationLatency"), StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now),
				Period: aws.Int32(300), Statistics: []cwtypes.Statistic{cwtypes.StatisticAverage}})
			return err
		}},
		{"s3:ListObjectsV2", west, func(c context.Context, cfg func(string) aws.Config) error {
			_, err := s3.NewFromConfig(cfg(west), pathStyle).ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(awstest.MimirBackups), Prefix: aws.String("postgres/")})
			return err
		}},
		{"sts:GetCallerIdentity", "", func(c context.Context, cfg func(string) aws.Config) error {
			_, err := sts.NewFromConfig(cfg(east)).GetCallerIdentity(c, &sts.GetCallerIdentityInput{})
			return err
		}},
	}
}

func pathStyle(o *s3.Options) { o.UsePathStyle = true }

// as is the client configuration of s with the test credentials.
func as(s *awstest.Server) func(string) aws.Config {
	return func(region string) aws.Config { return config(s, region) }
}

var throttleCodes = map[string]string{
	"rds:DescribeDBInstances": "Throttling", "ec2:DescribeRegions": "RequestLimitExceeded",
	"route53:GetHostedZone": "Throttling", "route53:ChangeResourceRecordSets": "PriorRequestNotComplete",
	"eks:UpdateNodegroupConfig": "ThrottlingException", "kafka:ListReplicators": "TooManyRequestsException",
	"dynamodb:DescribeTable": "ThrottlingException", "cloudwatch:GetMetricStatistics": "Throttling",
	"s3:ListObjectsV2": "SlowDown", "sts:GetCallerIdentity": "Throttling",
}

func TestThrottlingIsRetriedByTheStandardRetryerThenSucceeds(t *testing.T) {
	s, _, m, mi := seeded(t)
	for _, p := range probes(m, mi) {
		t.Run(p.op, func(t *testing.T) {
			f := s.Inject(awstest.Fault{Op: p.op, Kind: awstest.FaultThrottle, Times: 2})
			defer f.Remove()
			before := s.Calls(p.op)
			if err := p.call(ctx(t), as(s)); err != nil {
				t.Fatalf("after 2 throttles: %v", err)
			}
			if f.Hits() != 2 || s.Calls(p.op)-before != 3 {
				t.Errorf("throttled %d times, %d calls; want 2 and 3", f.Hits(), s.Calls(p.op)-before)
			}
			var throttled int
			for _, c := range s.CallLog() {
				if c.Op == p.op && c.ErrorCode == throttleCodes[p.op] {
					throttled++
				}
			}
			if throttled != 2 {
				t.Errorf("call log has %d %s answers, want 2", throttled, throttleCodes[p.op])
			}
		})
	}
}

func TestThrottlingThatNeverStopsSurfacesItsCode(t *testing.T) {
	s, _, m, mi := seeded(t)
	for _, p := range probes(m, mi) {
		t.Run(p.op, func(t *testing.T) {
			f := s.Inject(awstest.Fault{Op: p.op, Kind: awstest.FaultThrottle})
			defer f.Remove()
			err := p.call(ctx(t), as(s))
			var maxed *retry.MaxAttemptsError
			if !errors.As(err, &maxed) || apiCode(err) != throttleCodes[p.op] {
				t.Fatalf("err = %v, want %s after the retryer's attempts", err, throttleCodes[p.op])
			}
			if f.Hits() != retry.DefaultMaxAttempts {
				t.Errorf("%d attempts, want %d", f.Hits(), retry.DefaultMaxAttempts)
			}
			if p.op == "route53:ChangeResourceRecordSets" {
				var prior *r53types.PriorRequestNotComplete
				if !errors.As(err, &prior) {
					t.Errorf("err is %T, want *types.PriorRequestNotComplete", err)
				}
			}
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	s, _, m, mi := seeded(t)
	for _, p := range probes(m, mi) {
		t.Run(p.op, func(t *testing.T) {
			f := s.Inject(awstest.Fault{Op: p.op, Kind: awstest.FaultServerError, Times: 1})
			defer f.Remove()
			if err := p.call(ctx(t), as(s)); err != nil || f.Hits() != 1 {
				t.Fatalf("after one 5xx: err %v, hits %d", err, f.Hits())
			}
		})
	}
	f := s.Inject(awstest.Fault{Op: "rds:*", Kind: awstest.FaultServerError, Status: 503, Code: "ServiceUnavailable", Message: "down"})
	defer f.Remove()
	err := probes(m, mi)[0].call(ctx(t), as(s))
	if apiCode(err) != "ServiceUnavailable" || !strings.Contains(err.Error(), "down") {
		t.Errorf("overridden fault: err = %v", err)
	}
}

func TestAccessDeniedNamesTheActionAndTheResource(t *testing.T) {
	s, _, m, mi := seeded(t)
	acct := s.AccountID()
	user := "User: arn:aws:iam::" + acct + ":user/test is not authorized to perform: "
	want := map[string][2]string{
		"rds:DescribeDBInstances":          {"AccessDenied", user + "rds:DescribeDBInstances on resource: arn:aws:rds:us-west-2:" + acct + ":db:maip-prod-postgres-replica"},
		"ec2:DescribeRegions":              {"UnauthorizedOperation", "You are not authorized to perform this operation. " + user + "ec2:DescribeRegions"},
		"route53:GetHostedZone":            {"AccessDenied", user + "route53:GetHostedZone on resource: arn:aws:route53:::hostedzone/" + m.ZoneID},
		"route53:ChangeResourceRecordSets": {"AccessDenied", user + "route53:ChangeResourceRecordSets on resource: arn:aws:route53:::hostedzone/" + mi.ZoneID},
		"eks:UpdateNodegroupConfig":        {"AccessDeniedException", user + "eks:UpdateNodegroupConfig on resource: arn:aws:eks:us-west-2:" + acct + ":nodegroup/maip-prod-dr-eks-cluster/maip-prod-dr-nodegroup/*"},
		"kafka:ListReplicators":            {"ForbiddenException", user + "kafka:ListReplicators on resource: arn:aws:kafka:us-west-2:" + acct + ":replicator/*"},
		"dynamodb:DescribeTable":           {"AccessDeniedException", user + "dynamodb:DescribeTable on resource: arn:aws:dynamodb:us-west-2:" + acct + ":table/maip-prod-merchant-analytics"},
		"cloudwatch:GetMetricStatistics":   {"AccessDenied", user + "cloudwatch:GetMetricStatistics because no identity-based policy allows"},
		"s3:ListObjectsV2":                 {"AccessDenied", user + "s3:ListBucket on resource: \"arn:aws:s3:::mimir-backups-dr\""},
		"sts:GetCallerIdentity":            {"AccessDenied", user + "sts:GetCallerIdentity"},
	}
	for _, p := range probes(m, mi) {
		t.Run(p.op, func(t *testing.T) {
			f := s.Inject(awstest.Fault{Op: p.op, Kind: awstest.FaultAccessDenied})
			defer f.Remove()
			err := p.call(ctx(t), as(s))
			w := want[p.op]
			if apiCode(err) != w[0] || !strings.Contains(err.Error(), w[1]) {
				t.Fatalf("err = %v\nwant code %s and message containing %q", err, w[0], w[1])
			}
			if f.Hits() != 1 {
				t.Errorf("access denied was retried: %d calls", f.Hits())
			}
		})
	}
}

func TestAHangingRegionEndsAtTheCallersDeadline(t *testing.T) {
	s, _, m, mi := seeded(t)
	hang := s.HangRegion(east)
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := rdsClient(s, east).DescribeDBInstances(c, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPPrimaryDB)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context deadline", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("the call ended %v after its 300ms deadline", took)
	}
	// Other regions, and the global services signed for us-east-1, answer.
	for _, p := range probes(m, mi) {
		if p.region == east {
			continue
		}
		if err := p.call(ctx(t), as(s)); err != nil {
			t.Errorf("%s during the us-east-1 hang: %v", p.op, err)
		}
	}
	hang.Remove()
	if err := probes(m, mi)[1].call(ctx(t), as(s)); err != nil {
		t.Errorf("us-east-1 after the hang: %v", err)
	}
}

func TestAFaultOfOneRegionLeavesTheOthersAlone(t *testing.T) {
	s, _, _, _ := seeded(t)
	f := s.Inject(awstest.Fault{Op: "rds:DescribeDBInstances", Region: east, Kind: awstest.FaultAccessDenied})
	defer f.Remove()
	_, err := rdsClient(s, east).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("us-east-1: err = %v, want AccessDenied", err)
	}
	if _, err := rdsClient(s, west).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{}); err != nil {
		t.Errorf("us-west-2: %v", err)
	}
	if s.CallsIn(east, "rds:DescribeDBInstances") != 1 || s.CallsIn(west, "rds:DescribeDBInstances") != 1 {
		t.Errorf("calls: east %d west %d", s.CallsIn(east, "rds:DescribeDBInstances"), s.CallsIn(west, "rds:DescribeDBInstances"))
	}
}

func TestCloseEndsHungCalls(t *testing.T) {
	s, err := awstest.Start(context.Background(), awstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := s.HangRegion(east)
	errc := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := ec2Client(s, east).DescribeRegions(c, &ec2.DescribeRegionsInput{})
		errc <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); f.Hits() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	begin := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("close took %v with a hung call", took)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("the hung call succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hung call outlived the server by 10s")
	}
}
