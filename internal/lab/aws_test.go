package lab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// sdkFromEnv is what a process does after `eval "$(bot lab env)"`: the
// SDK's default chain, nothing set in code but the region.
func sdkFromEnv(t *testing.T, env map[string]string, region string) aws.Config {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func describe(cfg aws.Config, id string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := rds.NewFromConfig(cfg).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.DBInstances[0].DBInstanceStatus), nil
}

func healthyCheckers(t *testing.T, cfg aws.Config, id string) int {
	t.Helper()
	out, err := route53.NewFromConfig(cfg).GetHealthCheckStatus(context.Background(), &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range out.HealthCheckObservations {
		if strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
			n++
		}
	}
	return n
}

func TestLocalAWSServesTheSeedsAndFailsWithThePrimaryRegion(t *testing.T) {
	a, err := StartAWS(context.Background(), AWSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	env := a.Env()
	if _, ok := env["AWS_REGION"]; ok || env["AWS_ENDPOINT_URL"] != a.URL() || env["AWS_ACCESS_KEY_ID"] == "" || env["FAILOVER_RB_MAIP_AWS_ACCOUNT_ID"] != awstest.DefaultAccountID ||
		env["FAILOVER_RB_MIMIR_API_HEALTH_CHECK_ID"] == "" {
		t.Fatalf("env = %v", env)
	}
	east, west := sdkFromEnv(t, env, awstest.PrimaryRegion), sdkFromEnv(t, env, awstest.DRRegion)
	if st, err := describe(west, awstest.MAIPDRReplica, 5*time.Second); err != nil || st != "available" {
		t.Fatalf("the DR replica: %q, %v", st, err)
	}
	hc := env["FAILOVER_RB_MAIP_PRIMARY_HEALTH_CHECK_ID"]

	a.FailPrimary(FailBlackhole)
	start := time.Now()
	if _, err := describe(east, awstest.MAIPPrimaryDB, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("us-east-1 blackholed: %v, want no answer", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the hung call took %s", took)
	}
	if n := healthyCheckers(t, west, hc); n != 0 {
		t.Errorf("%d checkers see the primary load balancer healthy, want 0", n)
	}
	if st, err := describe(west, awstest.MAIPDRReplica, 5*time.Second); err != nil || st != "available" {
		t.Errorf("us-west-2 during the outage: %q, %v", st, err)
	}

	a.FailPrimary(FailRefuse)
	if _, err := describe(east, awstest.MAIPPrimaryDB, 5*time.Second); err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
		t.Errorf("us-east-1 refusing: %v, want a 5xx", err)
	}
	a.Restore()
	if st, err := describe(east, awstest.MAIPPrimaryDB, 5*time.Second); err != nil || st != "available" {
		t.Errorf("restored: %q, %v", st, err)
	}
	if n := healthyCheckers(t, west, hc); n != awstest.Checkers {
		t.Errorf("restored: %d healthy checkers", n)
	}
}

func TestLabUpWithAWS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := Up(ctx, Options{AWS: &AWSOptions{}})
	if err != nil {
		t.Fatalf("lab.Up: %v", err)
	}
	env := l.Env()
	if env["AWS_ENDPOINT_URL"] == "" || env["LAB_PG_PRIMARY_DSN"] == "" {
		t.Fatalf("env lacks the local AWS or the lab: %v", env)
	}
	east := sdkFromEnv(t, env, awstest.PrimaryRegion)
	if err := l.FailPrimary(ctx, FailBlackhole); err != nil {
		t.Fatal(err)
	}
	if _, err := describe(east, awstest.MAIPPrimaryDB, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the lab's primary region failed: us-east-1 answered (%v)", err)
	}
	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := describe(east, awstest.MAIPPrimaryDB, 5*time.Second); err != nil || st != "available" {
		t.Errorf("restored: %q, %v", st, err)
	}
	if err := l.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := describe(east, awstest.MAIPPrimaryDB, 2*time.Second); err == nil {
		t.Error("the local AWS still answers after lab.Down")
	}
}
