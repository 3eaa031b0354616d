package awstest_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

func TestUnsignedAndUnknownCallersAreRefusedWithEachServicesError(t *testing.T) {
	s, _, m, mi := seeded(t)
	unsigned := map[string]string{
		"rds:DescribeDBInstances": "MissingAuthenticationToken", "ec2:DescribeRegions": "AuthFailure",
		"route53:GetHostedZone": "MissingAuthenticationToken", "route53:ChangeResourceRecordSets": "MissingAuthenticationToken",
		"eks:UpdateNodegroupConfig": "MissingAuthenticationTokenException", "kafka:ListReplicators": "MissingAuthenticationTokenException",
		"dynamodb:DescribeTable": "MissingAuthenticationTokenException", "cloudwatch:GetMetricStatistics": "MissingAuthenticationToken",
		"s3:ListObjectsV2": "AccessDenied", "sts:GetCallerIdentity": "MissingAuthenticationToken",
	}
	unknown := map[string]string{
		"rds:DescribeDBInstances": "InvalidClientTokenId", "ec2:DescribeRegions": "AuthFailure",
		"route53:GetHostedZone": "InvalidClientTokenId", "route53:ChangeResourceRecordSets": "InvalidClientTokenId",
		"eks:UpdateNodegroupConfig": "UnrecognizedClientException", "kafka:ListReplicators": "UnrecognizedClientException",
		"dynamodb:DescribeTable": "UnrecognizedClientException", "cloudwatch:GetMetricStatistics": "InvalidClientTokenId",
		"s3:ListObjectsV2": "InvalidAccessKeyId", "sts:GetCallerIdentity": "InvalidClientTokenId",
	}
	for _, tc := range []struct {
		name  string
		creds aws.CredentialsProvider
		want  map[string]string
	}{
		{"unsigned", aws.AnonymousCredentials{}, unsigned},
		{"unknown key", credentials.NewStaticCredentialsProvider("AKIAUNKNOWNKEY000000", "secret", ""), unknown},
	} {
		for _, p := range probes(m, mi) {
			t.Run(tc.name+"/"+p.op, func(t *testing.T) {
				err := p.call(ctx(t), func(region string) aws.Config {
					cfg := config(s, region)
					cfg.Credentials = tc.creds
					return cfg
				})
				if apiCode(err) != tc.want[p.op] {
					t.Fatalf("err = %v, want %s", err, tc.want[p.op])
				}
			})
		}
	}
	if got := s.Calls("*"); got != 2*len(probes(m, mi)) {
		t.Errorf("refused calls recorded: %d, want %d", got, 2*len(probes(m, mi)))
	}
}

func TestAnAddedCredentialIsAcceptedAndRecorded(t *testing.T) {
	s := start(t, awstest.Options{Credentials: []awstest.Credential{{AccessKeyID: "AKIAFIRST00000000000", SecretAccessKey: "one", UserName: "bot"}}})
	if err := s.AddCredential(awstest.Credential{AccessKeyID: "AKIASECOND0000000000", SecretAccessKey: "two", UserName: "lab"}); err != nil {
		t.Fatal(err)
	}
	cfg := config(s, east)
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIASECOND0000000000", "two", "")
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != "arn:aws:iam::"+awstest.DefaultAccountID+":user/lab" {
		t.Errorf("identity = %s", aws.ToString(id.Arn))
	}
	if got, _ := sts.NewFromConfig(config(s, east)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); aws.ToString(got.Arn) != "arn:aws:iam::"+awstest.DefaultAccountID+":user/bot" {
		t.Errorf("first credential's identity = %v", got)
	}
	log := s.CallLog()
	if len(log) != 2 || log[0].AccessKey != "AKIASECOND0000000000" || log[0].Status != 200 || log[0].Op != "sts:GetCallerIdentity" {
		t.Errorf("call log = %+v", log)
	}
}

func TestStateIsKeptPerRegion(t *testing.T) {
	s, _, _, _ := seeded(t)
	other := "eu-west-1"
	_, err := rdsClient(s, other).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPPrimaryDB)})
	var nf *rdstypes.DBInstanceNotFoundFault
	if !errors.As(err, &nf) {
		t.Errorf("rds in %s: err = %v, want DBInstanceNotFound", other, err)
	}
	out, err := rdsClient(s, other).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
	if err != nil || len(out.DBInstances) != 0 {
		t.Errorf("rds in %s lists %v (err %v)", other, out, err)
	}
	if _, err := ddbClient(s, other).DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String(awstest.MAIPTable)}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("dynamodb in %s: err = %v", other, err)
	}
	if err := s.SetDBInstanceStatus(east, awstest.MAIPPrimaryDB, "failed"); err != nil {
		t.Fatal(err)
	}
	if db := describeDB(t, rdsClient(s, west), awstest.MAIPDRReplica); aws.ToString(db.DBInstanceStatus) != "available" {
		t.Errorf("the DR replica followed the primary's failure: %s", aws.ToString(db.DBInstanceStatus))
	}
}

func TestCallsAreCountedPerOperationAndRegion(t *testing.T) {
	s, clk, _, _ := seeded(t)
	t0 := clk.Now()
	for _, r := range []string{west, west, east} {
		_, _ = rdsClient(s, r).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
		clk.Advance(time.Minute)
	}
	if s.Calls("rds:DescribeDBInstances") != 3 || s.CallsIn(west, "rds:DescribeDBInstances") != 2 || s.CallsIn(east, "rds:*") != 1 || s.Calls("eks:*") != 0 {
		t.Errorf("counts: all %d west %d east %d", s.Calls("rds:DescribeDBInstances"), s.CallsIn(west, "rds:DescribeDBInstances"), s.CallsIn(east, "rds:*"))
	}
	if n := s.CallsBetween("rds:DescribeDBInstances", t0, t0.Add(2*time.Minute)); n != 2 {
		t.Errorf("calls in the first two minutes = %d, want 2", n)
	}
	log := s.CallLog()
	last := log[len(log)-1]
	if last.Region != east || last.Status != 404 || last.ErrorCode != "DBInstanceNotFound" {
		t.Errorf("last call = %+v, want the us-east-1 DBInstanceNotFound", last)
	}
	s.ResetCalls()
	if s.Calls("*") != 0 || len(s.CallLog()) != 0 {
		t.Error("ResetCalls left calls")
	}
	_, err := rdsClient(s, east).RebootDBInstance(ctx(t), &rds.RebootDBInstanceInput{DBInstanceIdentifier: aws.String(awstest.MAIPPrimaryDB)})
	if apiCode(err) != "InvalidAction" {
		t.Errorf("an operation the fake does not serve: err = %v, want InvalidAction", err)
	}
}

func TestStartStopsWhenItsContextEnds(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	s, err := awstest.Start(c, awstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.URL()[len("http://"):]
	cancel()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after its context ended", addr)
	}
}

func TestLoadDefaultConfigWithBaseEndpointReachesTheFake(t *testing.T) {
	s, _, _, _ := seeded(t)
	creds := s.Credentials()
	cfg, err := awsconfig.LoadDefaultConfig(ctx(t),
		awsconfig.WithRegion(west),
		awsconfig.WithBaseEndpoint(s.URL()),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")),
		awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	db := describeDB(t, rds.NewFromConfig(cfg), awstest.MAIPDRReplica)
	if aws.ToString(db.DBInstanceStatus) != "available" {
		t.Errorf("status = %s", aws.ToString(db.DBInstanceStatus))
	}
}

func TestEnvPointsTheSDKsDefaultConfigAtTheFake(t *testing.T) {
	s, _, _, _ := seeded(t)
	for k, v := range s.Env(west) {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	cfg, err := awsconfig.LoadDefaultConfig(ctx(t), awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedCredentialsFiles([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if db := describeDB(t, rds.NewFromConfig(cfg), awstest.MAIPDRReplica); aws.ToString(db.DBInstanceStatus) != "available" {
		t.Errorf("status = %s", aws.ToString(db.DBInstanceStatus))
	}
	if n := s.CallsIn(west, "rds:DescribeDBInstances"); n != 1 {
		t.Errorf("calls in us-west-2 = %d, want 1", n)
	}
}
