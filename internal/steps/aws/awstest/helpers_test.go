package awstest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/kafka"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

const (
	east = awstest.PrimaryRegion
	west = awstest.DRRegion
)

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a server for the test.
func start(t *testing.T, opts awstest.Options) *awstest.Server {
	t.Helper()
	s, err := awstest.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// seeded is a server with both seeds, on a manual clock.
func seeded(t *testing.T) (*awstest.Server, *clock, awstest.MAIP, awstest.Mimir) {
	t.Helper()
	clk := newClock()
	s := start(t, awstest.Options{Now: clk.Now})
	m, err := awstest.SeedMAIP(s)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := awstest.SeedMimir(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, m, mi
}

// config is s's client configuration for region with the standard
// retryer, its backoff shortened so retried tests stay fast.
func config(s *awstest.Server, region string) aws.Config {
	cfg := s.AWSConfig(region)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	}
	return cfg
}

func rdsClient(s *awstest.Server, region string) *rds.Client {
	return rds.NewFromConfig(config(s, region))
}
func r53Client(s *awstest.Server) *route53.Client { return route53.NewFromConfig(config(s, east)) }
func eksClient(s *awstest.Server, region string) *eks.Client {
	return eks.NewFromConfig(config(s, region))
}
func ec2Client(s *awstest.Server, region string) *ec2.Client {
	return ec2.NewFromConfig(config(s, region))
}
func ddbClient(s *awstest.Server, region string) *dynamodb.Client {
	return dynamodb.NewFromConfig(config(s, region))
}
func kafkaClient(s *awstest.Server, region string) *kafka.Client {
	return kafka.NewFromConfig(config(s, region))
}
func cwClient(s *awstest.Server, region string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(config(s, region))
}
func stsClient(s *awstest.Server) *sts.Client { return sts.NewFromConfig(config(s, east)) }
func s3Client(s *awstest.Server, region string) *s3.Client {
	return s3.NewFromConfig(config(s, region), func(o *s3.Options) { o.UsePathStyle = true })
}

// ctx is a test context with a deadline, as every call must have.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiCode is the AWS error code of err ("" if none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// afterEach runs fn on the typed output of every call the client makes
// (after deserialization), for observing what a waiter sees.
func afterEach[T any](fn func(*T)) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("awstestObserve",
			func(c context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(c, in)
				if v, ok := out.Result.(*T); ok && err == nil {
					fn(v)
				}
				return out, md, err
			}), middleware.After)
	}
}
