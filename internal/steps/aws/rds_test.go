package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// describeDB reads an instance with the SDK, as a person checking would.
func describeDB(t *testing.T, l *lab, region, id string) (status, source string, backupDays int32) {
	t.Helper()
	out, err := rds.NewFromConfig(l.AWSConfig(region)).DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	db := out.DBInstances[0]
	return aws.ToString(db.DBInstanceStatus), aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier), aws.ToInt32(db.BackupRetentionPeriod)
}

func states(l *lab, r awstest.Resource) string {
	var out []string
	for _, tr := range l.Transitions(r) {
		out = append(out, tr.State)
	}
	return strings.Join(out, " → ")
}

func TestPromoteReadReplicaWaitsThroughModifyingAndRebooting(t *testing.T) {
	l := newLab(t, awstest.Options{})
	cfg := &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, BackupRetentionPeriod: ptr(7)}
	s := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", cfg, l.conn(west))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "is a read replica of arn:aws:rds:us-east-1") {
		t.Fatalf("before: %+v, want a replica not done", res)
	}
	res := stepstest.Converge(t, s, 20*time.Second)
	if res.Outputs["port"] != "5432" || !strings.HasPrefix(res.Outputs["endpoint"], awstest.MAIPDRReplica+".") {
		t.Errorf("outputs = %v, want the writer's endpoint and port", res.Outputs)
	}
	if got, want := states(l, awstest.DBInstance(west, awstest.MAIPDRReplica)), "available → modifying → rebooting → available"; got != want {
		t.Errorf("states %s, want %s", got, want)
	}
	if st, src, days := describeDB(t, l, west, awstest.MAIPDRReplica); st != "available" || src != "" || days != 7 {
		t.Errorf("after: %s, source %q, backups %d days; want available, no source, 7", st, src, days)
	}
	// Already done: a second Apply changes nothing, a fresh step is done.
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if n := l.Calls("rds:PromoteReadReplica"); n != 1 {
		t.Errorf("%d promote calls, want 1", n)
	}
	fresh := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", cfg, l.conn(west))
	if res := stepstest.Check(t, fresh); !res.Done || !strings.Contains(res.Summary, "standalone writer") {
		t.Errorf("a fresh step: %+v, want done", res)
	}
}

func TestPromoteRefusesWhatCannotBePromoted(t *testing.T) {
	l := newLab(t, awstest.Options{})
	build := func(region, id string) steps.Step {
		return stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", &PromoteReadReplicaConfig{DBInstanceIdentifier: id}, l.conn(region))
	}
	t.Run("the writer itself", func(t *testing.T) {
		_, err := check(t, build(east, awstest.MAIPPrimaryDB))
		wantPermanent(t, err, "maip-prod-postgres is not a read replica", "it is the writer", awstest.MAIPDRReplica, "nothing to promote")
		err = apply(t, build(east, awstest.MAIPPrimaryDB))
		wantPermanent(t, err, "is not a read replica")
		if n := l.Calls("rds:PromoteReadReplica"); n != 0 {
			t.Errorf("%d promote calls, want none", n)
		}
	})
	t.Run("an instance that does not exist", func(t *testing.T) {
		_, err := check(t, build(west, "maip-prod-postgres-typo"))
		wantPermanent(t, err, "maip-prod-postgres-typo does not exist", "us-west-2")
	})
	t.Run("a replica taking a backup", func(t *testing.T) {
		if err := l.SetDBInstanceStatus(west, awstest.MAIPDRReplica, "backing-up"); err != nil {
			t.Fatal(err)
		}
		err := apply(t, build(west, awstest.MAIPDRReplica))
		wantPermanent(t, err, "is taking a backup")
	})
	t.Run("a replica whose storage is full", func(t *testing.T) {
		if err := l.SetDBInstanceStatus(west, awstest.MAIPDRReplica, "storage-full"); err != nil {
			t.Fatal(err)
		}
		err := apply(t, build(west, awstest.MAIPDRReplica))
		wantPermanent(t, err, "is storage-full, a state that does not pass by itself")
	})
	if n := l.Calls("rds:PromoteReadReplica"); n != 0 {
		t.Errorf("%d promote calls, want none", n)
	}
}

func TestPromoteSurvivesThrottling(t *testing.T) {
	l := newLab(t, awstest.Options{})
	f1 := l.Inject(awstest.Fault{Op: "rds:PromoteReadReplica", Kind: awstest.FaultThrottle, Times: 3})
	f2 := l.Inject(awstest.Fault{Op: "rds:DescribeDBInstances", Kind: awstest.FaultThrottle, Times: 4})
	s := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, l.conn(west))
	if res := stepstest.Converge(t, s, 20*time.Second); !res.Done {
		t.Fatalf("not done: %+v", res)
	}
	if f1.Hits() != 3 || f2.Hits() != 4 {
		t.Errorf("throttled %d promotes and %d describes, want 3 and 4", f1.Hits(), f2.Hits())
	}
	if st, src, _ := describeDB(t, l, west, awstest.MAIPDRReplica); st != "available" || src != "" {
		t.Errorf("after: %s from %q", st, src)
	}
}

func TestThrottlingPastTheCallTimeoutIsTransient(t *testing.T) {
	l := newLab(t, awstest.Options{})
	l.Inject(awstest.Fault{Op: "rds:DescribeDBInstances", Kind: awstest.FaultThrottle})
	p := stepstest.Build(t, register, "aws.rds.instanceStatus", &InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, CallTimeout: "300ms"}, l.conn(west))
	var err error
	within(t, 2*time.Second, "a throttled Check", func() { _, err = check(t, p) })
	wantTransient(t, err, "throttled", "Throttling")
}

func TestAccessDeniedNamesTheActionAndResource(t *testing.T) {
	l := newLab(t, awstest.Options{})
	l.Inject(awstest.Fault{Op: "rds:PromoteReadReplica", Kind: awstest.FaultAccessDenied})
	s := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, l.conn(west))
	err := apply(t, s)
	wantPermanent(t, err, "access denied: rds:PromoteReadReplica on arn:aws:rds:us-west-2:*:db:maip-prod-postgres-replica", "connection us-west-2_aws")
	stepstest.NoSecret(t, l.secret(), steps.Result{}, err)
}

func TestRDSDeadlinesAgainstAHangingRegion(t *testing.T) {
	l := newLab(t, awstest.Options{})
	l.HangRegion(west)
	s := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica",
		&PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, CallTimeout: "300ms"}, l.conn(west))
	var err error
	within(t, 1300*time.Millisecond, "Check against a hanging region", func() { _, err = check(t, s) })
	wantTransient(t, err, "no answer within the call timeout 300ms")
	within(t, 1300*time.Millisecond, "Apply against a hanging region", func() { err = apply(t, s) })
	wantTransient(t, err)
	// The caller's deadline, shorter than the call timeout, wins.
	long := stepstest.BuildStep(t, register, "aws.rds.promoteReadReplica", &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica}, l.conn(west))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	within(t, time.Second, "Check under a 200ms caller deadline", func() { _, err = long.Check(ctx) })
	wantTransient(t, err)
	// A blackholed endpoint (not even an HTTP server) too.
	bh := stepstest.Build(t, register, "aws.rds.instanceStatus", &InstanceStatusConfig{DBInstanceIdentifier: "x", CallTimeout: "300ms"}, blackholeConn(t, l, west))
	within(t, 1300*time.Millisecond, "Check against a blackhole", func() { _, err = check(t, bh) })
	wantTransient(t, err)
}

func TestInstanceStatusOfADeadPrimaryAndTheDRReplica(t *testing.T) {
	l := newLab(t, awstest.Options{})
	primary := stepstest.Build(t, register, "aws.rds.instanceStatus",
		&InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPPrimaryDB, Expect: ExpectUnavailable, CallTimeout: "300ms"}, l.conn(east))
	replica := stepstest.Build(t, register, "aws.rds.instanceStatus",
		&InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, ReadReplica: true}, l.conn(west))
	if res := stepstest.Check(t, primary); res.Done || res.Outputs["status"] != "available" {
		t.Errorf("a healthy primary: %+v, want not done", res)
	}
	res := stepstest.Check(t, replica)
	if !res.Done || !strings.HasPrefix(res.Outputs["replicaSource"], "arn:aws:rds:us-east-1:") || res.Outputs["status"] != "available" {
		t.Errorf("the DR replica: %+v, want done, replicating from the primary", res)
	}
	again := stepstest.Check(t, replica)
	if again.Done != res.Done || again.Summary != res.Summary {
		t.Errorf("a second Check differs: %+v vs %+v", again, res)
	}

	// The primary failed: its status says so.
	if err := l.SetDBInstanceStatus(east, awstest.MAIPPrimaryDB, "failed"); err != nil {
		t.Fatal(err)
	}
	if res := stepstest.Check(t, primary); !res.Done || res.Outputs["status"] != "failed" {
		t.Errorf("a failed primary: %+v, want done", res)
	}
	// The whole region is gone: no answer within the call timeout is the evidence.
	restore := l.RegionOutage(east)
	defer restore()
	within(t, 1300*time.Millisecond, "Check of a dead region", func() { res = stepstest.Check(t, primary) })
	if !res.Done || res.Outputs["status"] != "unreachable" || !strings.Contains(res.Summary, "does not answer") {
		t.Errorf("a dead region: %+v, want done, unreachable", res)
	}
	// But not if it is only throttled or the instance's name is wrong.
	restore()
	typo := stepstest.Build(t, register, "aws.rds.instanceStatus", &InstanceStatusConfig{DBInstanceIdentifier: "nope", Expect: ExpectUnavailable}, l.conn(east))
	_, err := check(t, typo)
	wantPermanent(t, err, "nope does not exist")
	// A promoted instance is no read replica any more.
	if _, err := rds.NewFromConfig(l.AWSConfig(west)).PromoteReadReplica(context.Background(), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		t.Fatal(err)
	}
	waitDB(t, l, west, awstest.MAIPDRReplica)
	if res := stepstest.Check(t, replica); res.Done || !strings.Contains(res.Summary, "not a read replica") {
		t.Errorf("after promotion, readReplica: %+v, want not done", res)
	}
}

// waitDB waits until an instance is available and no replica, with the SDK's waiter.
func waitDB(t *testing.T, l *lab, region, id string) {
	t.Helper()
	w := rds.NewDBInstanceAvailableWaiter(rds.NewFromConfig(l.AWSConfig(region)), func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	})
	for range 100 {
		if err := w.Wait(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, src, _ := describeDB(t, l, region, id); src == "" {
			return
		}
	}
	t.Fatalf("%s is still a replica", id)
}

func TestCreateCrossRegionReplicaForFailback(t *testing.T) {
	l := newLab(t, awstest.Options{})
	if _, err := rds.NewFromConfig(l.AWSConfig(west)).PromoteReadReplica(context.Background(), &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)}); err != nil {
		t.Fatal(err)
	}
	waitDB(t, l, west, awstest.MAIPDRReplica)
	srcARN := "arn:aws:rds:us-west-2:" + l.AccountID() + ":db:" + awstest.MAIPDRReplica
	cfg := &CreateReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPFailbackDB, SourceDBInstanceIdentifier: srcARN, SourceRegion: west, KMSKeyID: l.maip.PrimaryKMSKeyID}
	s := stepstest.BuildStep(t, register, "aws.rds.createReadReplica", cfg, l.conn(east))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "does not exist yet") {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 20*time.Second)
	if res.Outputs["arn"] != "arn:aws:rds:us-east-1:"+l.AccountID()+":db:"+awstest.MAIPFailbackDB || res.Outputs["endpoint"] == "" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if got := states(l, awstest.DBInstance(east, awstest.MAIPFailbackDB)); got != "creating → available" {
		t.Errorf("states %s", got)
	}
	if st, src, _ := describeDB(t, l, east, awstest.MAIPFailbackDB); st != "available" || src != srcARN {
		t.Errorf("replica %s from %q", st, src)
	}
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if n := l.Calls("rds:CreateDBInstanceReadReplica"); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}

	t.Run("an encrypted source without a key", func(t *testing.T) {
		c := *cfg
		c.DBInstanceIdentifier, c.KMSKeyID = "maip-prod-postgres-other", ""
		err := apply(t, stepstest.BuildStep(t, register, "aws.rds.createReadReplica", &c, l.conn(east)))
		wantPermanent(t, err, "refused (InvalidParameterCombination)", "KmsKeyId")
	})
	t.Run("a name taken by another instance", func(t *testing.T) {
		c := *cfg
		c.DBInstanceIdentifier = awstest.MAIPPrimaryDB
		_, err := check(t, stepstest.BuildStep(t, register, "aws.rds.createReadReplica", &c, l.conn(east)))
		wantPermanent(t, err, "maip-prod-postgres exists but is not a read replica")
	})
}
