package awstest_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// A deleted instance is deleting, then gone, and its identifier can hold a
// new read replica (the failback's "recreate the DR replica").
func TestDeleteDBInstanceThenRecreateTheReplica(t *testing.T) {
	s, clk, _, _ := seeded(t)
	c := rdsClient(s, west)
	id := aws.String(awstest.MAIPDRReplica)
	if _, err := c.DeleteDBInstance(ctx(t), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: id}); err == nil {
		t.Fatal("a delete without SkipFinalSnapshot or a final snapshot was accepted")
	}
	out, err := c.DeleteDBInstance(ctx(t), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: id, SkipFinalSnapshot: aws.Bool(true)})
	if err != nil || aws.ToString(out.DBInstance.DBInstanceStatus) != "deleting" {
		t.Fatalf("delete: %v, %v; want deleting", out, err)
	}
	if _, err := c.CreateDBInstanceReadReplica(ctx(t), &rds.CreateDBInstanceReadReplicaInput{DBInstanceIdentifier: id,
		SourceDBInstanceIdentifier: aws.String("arn:aws:rds:us-east-1:" + s.AccountID() + ":db:" + awstest.MAIPPrimaryDB), SourceRegion: aws.String(east)}); err == nil {
		t.Error("a replica was created under the identifier of an instance still deleting")
	}
	clk.Advance(s.Scaled().RDSDelete)
	_, err = c.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: id})
	var nf *types.DBInstanceNotFoundFault
	if !errors.As(err, &nf) {
		t.Fatalf("after the deletion: err = %v, want DBInstanceNotFound", err)
	}
	if _, err := c.CreateDBInstanceReadReplica(ctx(t), &rds.CreateDBInstanceReadReplicaInput{DBInstanceIdentifier: id,
		SourceDBInstanceIdentifier: aws.String("arn:aws:rds:us-east-1:" + s.AccountID() + ":db:" + awstest.MAIPPrimaryDB), SourceRegion: aws.String(east),
		KmsKeyId: aws.String("arn:aws:kms:us-west-2:" + s.AccountID() + ":key/8a7b6c5d-4e3f-4a10-9b2c-1d0e3f2a4b5c")}); err != nil {
		t.Fatalf("recreate the replica: %v", err)
	}
}
