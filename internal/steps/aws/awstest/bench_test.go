package awstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// BenchmarkPromoteAndWait measures, with the real SDK waiter polling every
// 20–40ms, how late the client sees a promotion finish (lag-ms: from the
// fake's available transition to the waiter's return) and how often it
// asks while it waits (describes/min). It shows how the AWS step kinds'
// benchmarks read the fake's call counts and state times.
func BenchmarkPromoteAndWait(b *testing.B) {
	var lag, rate float64
	for range b.N {
		s, err := awstest.Start(context.Background(), awstest.Options{TimeScale: 0.002}) // 90s of promotion → 180ms
		if err != nil {
			b.Fatal(err)
		}
		if _, err := awstest.SeedMAIP(s); err != nil {
			b.Fatal(err)
		}
		c := rds.NewFromConfig(config(s, west))
		begin := time.Now()
		if _, err := c.PromoteReadReplica(context.Background(), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
			b.Fatal(err)
		}
		w := rds.NewDBInstanceAvailableWaiter(c, func(o *rds.DBInstanceAvailableWaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 40*time.Millisecond
		})
		if err := w.Wait(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		avail, ok := s.EnteredAt(awstest.DBInstance(west, awstest.MAIPDRReplica), "available")
		if !ok {
			b.Fatal("the instance never became available")
		}
		lag += float64(done.Sub(avail)) / float64(time.Millisecond)
		rate += float64(s.CallsBetween("rds:DescribeDBInstances", begin, done)) / done.Sub(begin).Minutes()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(lag/float64(b.N), "lag-ms")
	b.ReportMetric(rate/float64(b.N), "describes/min")
}
