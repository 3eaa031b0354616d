package awstest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// A test starts the fake, seeds the MAIP deployment, points a real SDK
// client at it, injects a fault, and reads what happened.
func Example() {
	ctx := context.Background()
	s, err := awstest.Start(ctx, awstest.Options{TimeScale: 0.001})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := awstest.SeedMAIP(s); err != nil {
		log.Fatal(err)
	}
	c := rds.NewFromConfig(s.AWSConfig(awstest.DRRegion)) // BaseEndpoint, region, credentials

	out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
	if err != nil {
		log.Fatal(err)
	}
	db := out.DBInstances[0]
	fmt.Println(*db.DBInstanceStatus, *db.ReadReplicaSourceDBInstanceIdentifier)

	f := s.Inject(awstest.Fault{Op: "rds:PromoteReadReplica", Region: awstest.DRRegion, Kind: awstest.FaultAccessDenied, Times: 1})
	_, err = c.PromoteReadReplica(ctx, &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
	var denied smithy.APIError
	fmt.Println(errors.As(err, &denied) && denied.ErrorCode() == "AccessDenied", f.Hits())

	if _, err := c.PromoteReadReplica(ctx, &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		log.Fatal(err)
	}
	w := rds.NewDBInstanceAvailableWaiter(c, func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	})
	if err := w.Wait(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}, time.Minute); err != nil {
		log.Fatal(err)
	}
	var states []string
	for _, tr := range s.Transitions(awstest.DBInstance(awstest.DRRegion, awstest.MAIPDRReplica)) {
		states = append(states, tr.State)
	}
	fmt.Println(strings.Join(states, " → "))
	fmt.Println(s.Calls("rds:PromoteReadReplica"), "promote calls")
	// Output:
	// available arn:aws:rds:us-east-1:123456789012:db:maip-prod-postgres
	// true 1
	// available → modifying → rebooting → available
	// 2 promote calls
}
