package awstest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

func describeDB(t *testing.T, c *rds.Client, id string) types.DBInstance {
	t.Helper()
	out, err := c.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	if len(out.DBInstances) != 1 {
		t.Fatalf("describe %s: %d instances", id, len(out.DBInstances))
	}
	return out.DBInstances[0]
}

func TestDescribeDBInstancesShowsThePrimaryAndItsCrossRegionReplica(t *testing.T) {
	s, _, m, _ := seeded(t)
	primaryARN := "arn:aws:rds:us-east-1:" + m.AccountID + ":db:maip-prod-postgres"
	replicaARN := "arn:aws:rds:us-west-2:" + m.AccountID + ":db:maip-prod-postgres-replica"

	p := describeDB(t, rdsClient(s, east), awstest.MAIPPrimaryDB)
	if aws.ToString(p.DBInstanceStatus) != "available" || aws.ToString(p.DBInstanceArn) != primaryARN {
		t.Errorf("primary: status %q arn %q", aws.ToString(p.DBInstanceStatus), aws.ToString(p.DBInstanceArn))
	}
	if p.ReadReplicaSourceDBInstanceIdentifier != nil {
		t.Errorf("primary has a replica source %q", *p.ReadReplicaSourceDBInstanceIdentifier)
	}
	if !slices.Equal(p.ReadReplicaDBInstanceIdentifiers, []string{replicaARN}) {
		t.Errorf("primary's replicas = %v, want [%s]", p.ReadReplicaDBInstanceIdentifiers, replicaARN)
	}
	if !aws.ToBool(p.MultiAZ) || !aws.ToBool(p.StorageEncrypted) || p.InstanceCreateTime == nil {
		t.Errorf("primary: multiAZ %v encrypted %v created %v", p.MultiAZ, p.StorageEncrypted, p.InstanceCreateTime)
	}

	r := describeDB(t, rdsClient(s, west), awstest.MAIPDRReplica)
	if aws.ToString(r.ReadReplicaSourceDBInstanceIdentifier) != primaryARN {
		t.Errorf("replica source = %q, want %s", aws.ToString(r.ReadReplicaSourceDBInstanceIdentifier), primaryARN)
	}
	if r.Endpoint == nil || !strings.HasPrefix(aws.ToString(r.Endpoint.Address), "maip-prod-postgres-replica.") ||
		!strings.HasSuffix(aws.ToString(r.Endpoint.Address), ".us-west-2.rds.amazonaws.com") || aws.ToInt32(r.Endpoint.Port) != 5432 {
		t.Errorf("replica endpoint = %+v", r.Endpoint)
	}
	if aws.ToString(r.KmsKeyId) != m.DRKMSKeyID {
		t.Errorf("replica key = %q, want %s", aws.ToString(r.KmsKeyId), m.DRKMSKeyID)
	}
	if len(r.StatusInfos) != 1 || aws.ToString(r.StatusInfos[0].Status) != "replicating" {
		t.Errorf("replica status infos = %+v", r.StatusInfos)
	}

	all, err := rdsClient(s, west).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
	if err != nil || len(all.DBInstances) != 1 {
		t.Fatalf("describe all in us-west-2: %v, %d instances", err, len(all.DBInstances))
	}
	byARN := describeDB(t, rdsClient(s, west), primaryARN)
	if aws.ToString(byARN.DBInstanceIdentifier) != awstest.MAIPPrimaryDB {
		t.Errorf("describe by ARN from us-west-2 = %q", aws.ToString(byARN.DBInstanceIdentifier))
	}
}

func TestDescribeAnUnknownInstanceIsDBInstanceNotFound(t *testing.T) {
	s, _, _, _ := seeded(t)
	_, err := rdsClient(s, east).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("nope")})
	var nf *types.DBInstanceNotFoundFault
	if !errors.As(err, &nf) || nf.ErrorCode() != "DBInstanceNotFound" || !strings.Contains(nf.ErrorMessage(), "nope") {
		t.Fatalf("err = %v, want DBInstanceNotFound", err)
	}
	// The replica lives in us-west-2 only.
	_, err = rdsClient(s, east).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
	if !errors.As(err, &nf) {
		t.Fatalf("the DR replica seen from us-east-1: err = %v, want DBInstanceNotFound", err)
	}
}

func TestPromoteReadReplicaMovesThroughModifyingAndRebooting(t *testing.T) {
	s, clk, m, _ := seeded(t)
	c := rdsClient(s, west)
	t0 := clk.Now()
	out, err := c.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{
		DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica), BackupRetentionPeriod: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstance.DBInstanceStatus); got != "modifying" {
		t.Errorf("promote answered status %q, want modifying", got)
	}
	d := s.Scaled()
	steps := []struct {
		advance time.Duration
		status  string
		replica bool
	}{
		{0, "modifying", true},
		{d.PromoteModifying - time.Second, "modifying", true},
		{time.Second, "rebooting", true},
		{d.PromoteRebooting, "available", false},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		db := describeDB(t, c, awstest.MAIPDRReplica)
		if got := aws.ToString(db.DBInstanceStatus); got != st.status {
			t.Errorf("at +%s: status %q, want %q", clk.Now().Sub(t0), got, st.status)
		}
		if isReplica := db.ReadReplicaSourceDBInstanceIdentifier != nil; isReplica != st.replica {
			t.Errorf("at +%s: still a replica = %v, want %v", clk.Now().Sub(t0), isReplica, st.replica)
		}
	}
	db := describeDB(t, c, awstest.MAIPDRReplica)
	if aws.ToInt32(db.BackupRetentionPeriod) != 7 {
		t.Errorf("backup retention after promotion = %d, want 7", aws.ToInt32(db.BackupRetentionPeriod))
	}
	if p := describeDB(t, rdsClient(s, east), awstest.MAIPPrimaryDB); len(p.ReadReplicaDBInstanceIdentifiers) != 0 {
		t.Errorf("the old primary still lists replicas %v", p.ReadReplicaDBInstanceIdentifiers)
	}
	tr := s.Transitions(awstest.DBInstance(west, awstest.MAIPDRReplica))
	var got []string
	for _, x := range tr {
		got = append(got, x.State+"@"+x.At.Sub(t0).String())
	}
	want := []string{"available@0s", "modifying@0s", "rebooting@" + d.PromoteModifying.String(), "available@" + (d.PromoteModifying + d.PromoteRebooting).String()}
	if !slices.Equal(got, want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
	_ = m
}

func TestDBInstanceAvailableWaiterWaitsThroughThePromotion(t *testing.T) {
	s, clk, _, _ := seeded(t)
	var seen []string
	d := s.Scaled()
	// Each poll the waiter makes moves the clock on by one state, so the
	// waiter must go through both intermediate states before it is done.
	c := rds.NewFromConfig(config(s, west), func(o *rds.Options) {
		o.APIOptions = append(o.APIOptions, afterEach(func(out *rds.DescribeDBInstancesOutput) {
			st := aws.ToString(out.DBInstances[0].DBInstanceStatus)
			seen = append(seen, st)
			switch st {
			case "modifying":
				clk.Advance(d.PromoteModifying)
			case "rebooting":
				clk.Advance(d.PromoteRebooting)
			}
		}))
	})
	if _, err := c.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		t.Fatal(err)
	}
	w := rds.NewDBInstanceAvailableWaiter(c, func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	err := w.Wait(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"modifying", "rebooting", "available"}; !slices.Equal(seen, want) {
		t.Errorf("the waiter saw %v, want %v", seen, want)
	}
	if n := s.CallsIn(west, "rds:DescribeDBInstances"); n != 3 {
		t.Errorf("describe calls = %d, want 3", n)
	}
}

func TestPromoteRefusesWhatIsNotAnAvailableReplica(t *testing.T) {
	s, _, _, _ := seeded(t)
	for _, tc := range []struct {
		name, region, id, code string
	}{
		{"a primary is not a read replica", east, awstest.MAIPPrimaryDB, "InvalidDBInstanceState"},
		{"an unknown instance is not found", west, "nope", "DBInstanceNotFound"},
		{"a replica being promoted is not available", west, awstest.MAIPDRReplica, "InvalidDBInstanceState"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rdsClient(s, tc.region)
			if tc.id == awstest.MAIPDRReplica {
				if _, err := c.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(tc.id)}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(tc.id)})
			if apiCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if tc.code == "InvalidDBInstanceState" {
				var st *types.InvalidDBInstanceStateFault
				if !errors.As(err, &st) {
					t.Errorf("err is %T, want *types.InvalidDBInstanceStateFault", err)
				}
			}
		})
	}
}

func TestCreateCrossRegionReadReplicaFromTheSourceARN(t *testing.T) {
	s, clk, m, _ := seeded(t)
	west := rdsClient(s, west)
	if _, err := west.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		t.Fatal(err)
	}
	d := s.Scaled()
	clk.Advance(d.PromoteModifying + d.PromoteRebooting)
	sourceARN := "arn:aws:rds:us-west-2:" + m.AccountID + ":db:maip-prod-postgres-replica"
	c := rdsClient(s, east)
	out, err := c.CreateDBInstanceReadReplica(ctx(t), &rds.CreateDBInstanceReadReplicaInput{
		DBInstanceIdentifier:       aws.String(awstest.MAIPFailbackDB),
		SourceDBInstanceIdentifier: aws.String(sourceARN),
		SourceRegion:               aws.String("us-west-2"), // the SDK presigns a URL for it
		KmsKeyId:                   aws.String(m.PrimaryKMSKeyID),
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := aws.ToString(out.DBInstance.DBInstanceStatus); st != "creating" || out.DBInstance.Endpoint != nil {
		t.Errorf("created: status %q endpoint %+v, want creating without an endpoint", st, out.DBInstance.Endpoint)
	}
	clk.Advance(d.ReplicaCreating)
	db := describeDB(t, c, awstest.MAIPFailbackDB)
	if aws.ToString(db.DBInstanceStatus) != "available" || aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier) != sourceARN ||
		aws.ToString(db.KmsKeyId) != m.PrimaryKMSKeyID || db.Endpoint == nil {
		t.Errorf("new replica: status %q source %q key %q endpoint %v", aws.ToString(db.DBInstanceStatus),
			aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier), aws.ToString(db.KmsKeyId), db.Endpoint)
	}
	src := describeDB(t, west, awstest.MAIPDRReplica)
	newARN := "arn:aws:rds:us-east-1:" + m.AccountID + ":db:maip-prod-postgres-new"
	if !slices.Equal(src.ReadReplicaDBInstanceIdentifiers, []string{newARN}) {
		t.Errorf("source's replicas = %v, want [%s]", src.ReadReplicaDBInstanceIdentifiers, newARN)
	}
	if got := s.Transitions(awstest.DBInstance(east, awstest.MAIPFailbackDB)); len(got) != 2 || got[0].State != "creating" || got[1].State != "available" {
		t.Errorf("transitions = %+v", got)
	}
}

func TestCreateReadReplicaErrors(t *testing.T) {
	s, _, m, _ := seeded(t)
	primaryARN := "arn:aws:rds:us-east-1:" + m.AccountID + ":db:maip-prod-postgres"
	for _, tc := range []struct {
		name, id, source, kms, code string
	}{
		{"a cross-region source named without its ARN is not found", "x1", awstest.MAIPPrimaryDB, m.DRKMSKeyID, "DBInstanceNotFound"},
		{"an encrypted cross-region source needs a key", "x2", primaryARN, "", "InvalidParameterCombination"},
		{"the key must be in the destination region", "x3", primaryARN, m.PrimaryKMSKeyID, "KMSKeyNotAccessibleFault"},
		{"the identifier must be new", awstest.MAIPDRReplica, primaryARN, m.DRKMSKeyID, "DBInstanceAlreadyExists"},
		{"the identifier must be valid", "1-bad--id-", primaryARN, m.DRKMSKeyID, "InvalidParameterValue"},
		{"an unknown source is not found", "x4", "arn:aws:rds:us-east-1:" + m.AccountID + ":db:nope", m.DRKMSKeyID, "DBInstanceNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &rds.CreateDBInstanceReadReplicaInput{DBInstanceIdentifier: aws.String(tc.id), SourceDBInstanceIdentifier: aws.String(tc.source)}
			if tc.kms != "" {
				in.KmsKeyId = aws.String(tc.kms)
			}
			_, err := rdsClient(s, west).CreateDBInstanceReadReplica(ctx(t), in)
			if apiCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestScaledRealTimeDelaysEndTheWaiterAtTheFakesTransition(t *testing.T) {
	s := start(t, awstest.Options{TimeScale: 0.004}) // 1m → 240ms, 30s → 120ms
	if _, err := awstest.SeedMAIP(s); err != nil {
		t.Fatal(err)
	}
	c := rdsClient(s, west)
	if _, err := c.PromoteReadReplica(ctx(t), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		t.Fatal(err)
	}
	w := rds.NewDBInstanceAvailableWaiter(c, func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	})
	if err := w.Wait(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	r := awstest.DBInstance(west, awstest.MAIPDRReplica)
	avail, ok := s.EnteredAt(r, "available")
	modifying, _ := s.EnteredAt(r, "modifying")
	if !ok || done.Before(avail) {
		t.Fatalf("the waiter returned at %v, before the instance was available at %v", done, avail)
	}
	if got, want := avail.Sub(modifying), 360*time.Millisecond; got != want {
		t.Errorf("promotion took %v on the fake's clock, want %v", got, want)
	}
	if n := s.CallsBetween("rds:DescribeDBInstances", modifying, avail); n < 2 {
		t.Errorf("the waiter polled %d times while the promotion ran, want several", n)
	}
}

func TestDescribeDBInstancesPages(t *testing.T) {
	s := start(t, awstest.Options{})
	const region = "eu-west-1"
	for i := range 25 {
		if err := s.SeedDBInstance(awstest.DBInstanceSpec{Region: region, ID: fmt.Sprintf("db-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p := rds.NewDescribeDBInstancesPaginator(rdsClient(s, region), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(20)})
	var ids []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, db := range out.DBInstances {
			ids = append(ids, aws.ToString(db.DBInstanceIdentifier))
		}
	}
	if pages != 2 || len(ids) != 25 || ids[0] != "db-00" || ids[24] != "db-24" {
		t.Errorf("%d pages, %d instances (%v)", pages, len(ids), ids)
	}
	_, err := rdsClient(s, region).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(5)})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxRecords 5: err = %v, want InvalidParameterValue", err)
	}
}
