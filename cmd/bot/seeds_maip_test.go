package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// The MAIP seeds, whole, from the console (the app's own wiring) against
// the full lab: maip-region-failover with the primary region down as
// `bot lab fail stop` takes it down (its API server killed, its data
// stores stopped, its AWS region failing every call), then, the region
// restored, maip-failback with its gates answered as the people they ask
// would. The end state is read with the real clients, not through the bot.
func TestSeedMAIPFailoverAndFailback(t *testing.T) {
	l := seedLab(t)
	dir := t.TempDir()
	ctx := context.Background()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		t.Fatal(err)
	}
	out := consoleScript(t, l, dir, `/failover assess maip-region-failover
/failover start maip-region-failover primary region down (seed test)
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/failover status last
`)
	// us-east-1's CloudWatch fails with the region: that check reports it.
	wantSaid(t, out, "✓ primary_nodes_down", "✓ primary_rds_down", "✓ dr_nodes_ready", "✓ dr_replica_available", "✗ dynamodb_replication_latency")
	run, states := lastRun(t, dir, "maip-region-failover")
	wantAllDone(t, run, states)
	dr, east := awsClient(t, l, awstest.DRRegion), awsClient(t, l, awstest.PrimaryRegion)
	if status, source, backups := dbInstance(t, dr, awstest.MAIPDRReplica); status != "available" || source != nil || backups != 7 {
		t.Errorf("the DR database: %s, source %v, backups %d days; want a promoted writer", status, aws.ToString(source), backups)
	}
	wantNodegroup(t, dr, awstest.MAIPDRCluster, awstest.MAIPDRNodes, [3]int32{4, 20, 8})
	wantDeployments(t, kubeClient(t, l, lab.KubeDRContext), "dr", "maip-services", map[string]int32{"maip-api": 4, "maip-ingest": 4})
	api := recordSets(t, dr, l.AWSSeeds().MAIP.ZoneID, awstest.MAIPAPIName, "A")
	if r := api[""]; len(api) != 1 || r.AliasTarget == nil || aws.ToString(r.AliasTarget.DNSName) != awstest.MAIPDRALB+"." {
		t.Errorf("api.maip.example.com: %+v, want the DR load balancer's alias", api)
	}
	wantChangesInsync(t, dr, []string{states["dns_api"].Outputs["changeId"]})

	start := time.Now()
	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("primary region restored in %s", time.Since(start).Round(time.Millisecond))
	// The gates: rebuild_primary (the region is back), write_path_during_shift
	// (two sign-offs), repoint_services, rebuild_dr_replica (done below,
	// before its confirmation, with the AWS SDK as the person would).
	out = consoleScript(t, l, dir, `/failover assess maip-failback
/failover start maip-failback the primary region is back (seed test)
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/approve last --as oncall-2
/wait last
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/approve last --as oncall-2
/wait last
# person
/approve last --as oncall-2
/wait last
/failover status last
`, func() { recreateDRReplica(t, l, dr) })
	wantSaid(t, out, "Your approval of gate rebuild_dr_replica")
	run, states = lastRun(t, dir, "maip-failback")
	wantAllDone(t, run, states)
	if status, source, _ := dbInstance(t, dr, awstest.MAIPDRReplica); status != "available" || !strings.HasSuffix(aws.ToString(source), ":db:"+awstest.MAIPFailbackDB) {
		t.Errorf("the DR replica: %s, source %s; want a replica of %s", status, aws.ToString(source), awstest.MAIPFailbackDB)
	}
	api = recordSets(t, dr, l.AWSSeeds().MAIP.ZoneID, awstest.MAIPAPIName, "A")
	if len(api) != 2 || aws.ToInt64(api["primary"].Weight) != 100 || aws.ToInt64(api["dr"].Weight) != 0 ||
		aws.ToString(api["primary"].AliasTarget.DNSName) != awstest.MAIPPrimaryALB+"." {
		t.Errorf("api.maip.example.com: %+v, want primary 100, dr 0", api)
	}
	if status, source, _ := dbInstance(t, east, awstest.MAIPFailbackDB); status != "available" || source != nil {
		t.Errorf("the new primary database: %s, source %v", status, aws.ToString(source))
	}
	wantNodegroup(t, east, awstest.MAIPPrimaryCluster, awstest.MAIPPrimaryNodes, [3]int32{4, 20, 8})
	wantNodegroup(t, dr, awstest.MAIPDRCluster, awstest.MAIPDRNodes, [3]int32{1, 20, 2})
	wantDeployments(t, kubeClient(t, l, lab.KubePrimaryContext), "primary", "maip-services", map[string]int32{"maip-api": 4, "maip-ingest": 4})
	wantDeployments(t, kubeClient(t, l, lab.KubeDRContext), "dr", "maip-services", map[string]int32{"maip-api": 0, "maip-ingest": 0})
}

// recreateDRReplica is what the gate rebuild_dr_replica asks a person to
// do, with the AWS SDK: retire the old DR writer and create
// maip-prod-postgres-replica again as a read replica of the new primary.
func recreateDRReplica(t *testing.T, l *lab.Lab, dr aws.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := rds.NewFromConfig(dr)
	id := aws.String(awstest.MAIPDRReplica)
	if _, err := c.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: id, SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Errorf("delete the old DR writer: %v", err)
		return
	}
	for {
		_, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: id})
		var nf *rdstypes.DBInstanceNotFoundFault
		if errors.As(err, &nf) {
			break
		}
		if ctx.Err() != nil {
			t.Errorf("the old DR writer is not gone: %v", err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := l.AWSSeeds().MAIP
	if _, err := c.CreateDBInstanceReadReplica(ctx, &rds.CreateDBInstanceReadReplicaInput{DBInstanceIdentifier: id,
		SourceDBInstanceIdentifier: aws.String("arn:aws:rds:" + awstest.PrimaryRegion + ":" + m.AccountID + ":db:" + awstest.MAIPFailbackDB),
		SourceRegion:               aws.String(awstest.PrimaryRegion), KmsKeyId: aws.String(m.DRKMSKeyID)}); err != nil {
		t.Errorf("recreate the DR replica: %v", err)
	}
}
