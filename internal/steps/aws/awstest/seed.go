package awstest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Regions of the seed runbooks.
const (
	PrimaryRegion = "us-east-1"
	DRRegion      = "us-west-2"
)

// MAIP is what SeedMAIP created, for the env of runbooks/maip-*.yaml.
type MAIP struct {
	AccountID string
	// ZoneID of maip.example.com.
	ZoneID string
	// PrimaryHealthCheckID checks the primary load balancer.
	PrimaryHealthCheckID string
	// PrimaryKMSKeyID (us-east-1) encrypts the failback replica
	// maip-prod-postgres-new; DRKMSKeyID (us-west-2) the DR replica.
	PrimaryKMSKeyID, DRKMSKeyID string
}

// Env is the environment runbooks/maip-failback.yaml reads (under the
// FAILOVER_RB_ prefix runbooks may read).
func (m MAIP) Env() map[string]string {
	return map[string]string{
		"FAILOVER_RB_MAIP_AWS_ACCOUNT_ID":          m.AccountID,
		"FAILOVER_RB_MAIP_PRIMARY_RDS_KMS_KEY_ID":  m.PrimaryKMSKeyID,
		"FAILOVER_RB_MAIP_PRIMARY_HEALTH_CHECK_ID": m.PrimaryHealthCheckID,
	}
}

// Names in the MAIP seed.
const (
	MAIPZoneName       = "maip.example.com"
	MAIPAPIName        = "api.maip.example.com"
	MAIPPrimaryALB     = "maip-prod-alb.us-east-1.elb.amazonaws.com"
	MAIPDRALB          = "maip-prod-dr-alb.us-west-2.elb.amazonaws.com"
	MAIPPrimaryDB      = "maip-prod-postgres"
	MAIPDRReplica      = "maip-prod-postgres-replica"
	MAIPFailbackDB     = "maip-prod-postgres-new"
	MAIPTable          = "maip-prod-merchant-analytics"
	MAIPPrimaryCluster = "maip-prod-eks-cluster"
	MAIPPrimaryNodes   = "maip-prod-nodegroup"
	MAIPDRCluster      = "maip-prod-dr-eks-cluster"
	MAIPDRNodes        = "maip-prod-dr-nodegroup"
)

// SeedMAIP creates what runbooks/maip-region-failover.yaml and
// maip-failback.yaml use, healthy and before any failover:
//   - RDS: maip-prod-postgres (us-east-1, encrypted) and its cross-region
//     read replica maip-prod-postgres-replica (us-west-2), both available.
//   - Route 53: zone maip.example.com with api.maip.example.com an alias A
//     to maip-prod-alb.us-east-1.elb.amazonaws.com (zone Z35SXDOTRQ7X7K);
//     a health check of that load balancer (HTTPS /actuator/health).
//   - EKS: maip-prod-eks-cluster/maip-prod-nodegroup (us-east-1, 4/8/20)
//     and maip-prod-dr-eks-cluster/maip-prod-dr-nodegroup (us-west-2,
//     standby 1/2/20), ACTIVE.
//   - DynamoDB: global table maip-prod-merchant-analytics in both regions.
//   - CloudWatch: AWS/DynamoDB ReplicationLatency (TableName,
//     ReceivingRegion) for the last hour, one sample a minute, published
//     in the sending region; AWS/RDS ReplicaLag for
//     maip-prod-postgres-replica (us-west-2) and, ahead of its creation by
//     the failback (the fake has no metrics pipeline),
//     maip-prod-postgres-new (us-east-1); alarm maip-prod-api-5xx (OK) in
//     each region.
//   - MSK: replicators maip-prod-east-to-west (in us-west-2) and
//     maip-prod-west-to-east (in us-east-1), RUNNING.
func SeedMAIP(s *Server) (MAIP, error) {
	m := MAIP{
		AccountID:            s.AccountID(),
		ZoneID:               "Z0MAIPEXAMPLE01",
		PrimaryHealthCheckID: "6d1c0a5e-7f3b-4b8e-9c2d-0a1b2c3d4e51",
		PrimaryKMSKeyID:      fmt.Sprintf("arn:aws:kms:%s:%s:key/3f1e2d4c-5b6a-4798-8a7b-6c5d4e3f2a10", PrimaryRegion, s.AccountID()),
		DRKMSKeyID:           fmt.Sprintf("arn:aws:kms:%s:%s:key/8a7b6c5d-4e3f-4a10-9b2c-1d0e3f2a4b5c", DRRegion, s.AccountID()),
	}
	primaryKey := strings.Replace(m.PrimaryKMSKeyID, "3f1e2d4c", "0e9d8c7b", 1)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(s.SeedDBInstance(DBInstanceSpec{Region: PrimaryRegion, ID: MAIPPrimaryDB, MultiAZ: true, KMSKeyID: primaryKey}))
	add(s.SeedDBInstance(DBInstanceSpec{Region: DRRegion, ID: MAIPDRReplica, KMSKeyID: m.DRKMSKeyID,
		ReplicaOf: s.rdsARN(PrimaryRegion, MAIPPrimaryDB)}))
	_, err := s.SeedHostedZone(HostedZoneSpec{ID: m.ZoneID, Name: MAIPZoneName})
	add(err)
	add(s.SeedRecord(m.ZoneID, Record{Name: MAIPAPIName, Type: "A",
		Alias: &AliasTarget{HostedZoneID: albZones[PrimaryRegion], DNSName: MAIPPrimaryALB + ".", EvaluateTargetHealth: true}}))
	_, err = s.SeedHealthCheck(HealthCheckSpec{ID: m.PrimaryHealthCheckID, FullyQualifiedDomainName: MAIPPrimaryALB, ResourcePath: "/actuator/health"})
	add(err)
	add(s.SeedNodegroup(NodegroupSpec{Region: PrimaryRegion, Cluster: MAIPPrimaryCluster, Name: MAIPPrimaryNodes, MinSize: 4, DesiredSize: 8, MaxSize: 20}))
	add(s.SeedNodegroup(NodegroupSpec{Region: DRRegion, Cluster: MAIPDRCluster, Name: MAIPDRNodes, MinSize: 1, DesiredSize: 2, MaxSize: 20}))
	add(s.SeedTable(GlobalTableSpec{Name: MAIPTable, Regions: []string{PrimaryRegion, DRRegion}}))
	now := s.now()
	for _, pair := range [][2]string{{PrimaryRegion, DRRegion}, {DRRegion, PrimaryRegion}} {
		s.PutMetricData(pair[0], Metric{Namespace: "AWS/DynamoDB", MetricName: "ReplicationLatency", Unit: "Milliseconds",
			Dimensions: map[string]string{"TableName": MAIPTable, "ReceivingRegion": pair[1]}}, lastHour(now, 850)...)
	}
	s.PutMetricData(DRRegion, Metric{Namespace: "AWS/RDS", MetricName: "ReplicaLag", Unit: "Seconds",
		Dimensions: map[string]string{"DBInstanceIdentifier": MAIPDRReplica}}, lastHour(now, 0.4)...)
	s.PutMetricData(PrimaryRegion, Metric{Namespace: "AWS/RDS", MetricName: "ReplicaLag", Unit: "Seconds",
		Dimensions: map[string]string{"DBInstanceIdentifier": MAIPFailbackDB}}, lastHour(now, 0.4)...)
	for _, r := range []string{PrimaryRegion, DRRegion} {
		add(s.SeedAlarm(r, AlarmSpec{Name: "maip-prod-api-5xx", Threshold: 50, Statistic: "Sum",
			Metric: Metric{Namespace: "AWS/ApplicationELB", MetricName: "HTTPCode_Target_5XX_Count"}}))
	}
	_, err = s.SeedReplicator(ReplicatorSpec{Name: "maip-prod-east-to-west", SourceRegion: PrimaryRegion, TargetRegion: DRRegion,
		SourceCluster: "maip-prod-msk", TargetCluster: "maip-prod-dr-msk"})
	add(err)
	_, err = s.SeedReplicator(ReplicatorSpec{Name: "maip-prod-west-to-east", SourceRegion: DRRegion, TargetRegion: PrimaryRegion,
		SourceCluster: "maip-prod-dr-msk", TargetCluster: "maip-prod-msk"})
	add(err)
	if err := errors.Join(errs...); err != nil {
		return MAIP{}, fmt.Errorf("seed MAIP: %w", err)
	}
	return m, nil
}

// lastHour is a sample a minute for the hour before now, around base.
func lastHour(now time.Time, base float64) []Point {
	var ps []Point
	for i := 60; i >= 1; i-- {
		ps = append(ps, Point{Time: now.Add(-time.Duration(i) * time.Minute).Truncate(time.Second), Value: base * (1 + float64(i%7)/20)})
	}
	return ps
}

// Mimir is what SeedMimir created, for the env of runbooks/mimir-*.yaml.
type Mimir struct {
	// ZoneID is Z1234567890ABC, the zone the runbooks name.
	ZoneID string
	// APIHealthCheckID and AppHealthCheckID check the API and the web app.
	APIHealthCheckID, AppHealthCheckID string
}

// Env is the environment runbooks/mimir-*.yaml read for AWS (under the
// FAILOVER_RB_ prefix runbooks may read).
func (m Mimir) Env() map[string]string {
	return map[string]string{
		"FAILOVER_RB_MIMIR_API_HEALTH_CHECK_ID": m.APIHealthCheckID,
		"FAILOVER_RB_MIMIR_APP_HEALTH_CHECK_ID": m.AppHealthCheckID,
	}
}

// Names in the Mimir seed: the primary region's load balancers, as the
// mimir-api-service and mimir-web-service of primary-cluster publish them.
const (
	MimirZoneName     = "mimir.example.com"
	MimirAPIName      = "api.mimir.example.com"
	MimirAppName      = "app.mimir.example.com"
	MimirPrimaryAPILB = "a1f3c5e7-mimir-api.us-east-1.elb.amazonaws.com"
	MimirPrimaryWebLB = "a2e4c6d8-mimir-web.us-east-1.elb.amazonaws.com"
	MimirBackups      = "mimir-backups-dr"
)

// SeedMimir creates what runbooks/mimir-region-failover.yaml and
// mimir-failback.yaml use, healthy and before any failover:
//   - Route 53: zone mimir.example.com with id Z1234567890ABC;
//     api.mimir.example.com and app.mimir.example.com CNAMEs (TTL 60) to
//     the primary load balancers; health checks of the API (HTTPS /health)
//     and of the web app (HTTPS /), pointing at those load balancers.
//   - S3: bucket mimir-backups-dr with daily base backups under postgres/
//     (the newest 6 hours old) and WAL archives under wal/.
//
// The EC2 region status check needs no seed (every region is enabled).
func SeedMimir(s *Server) (Mimir, error) {
	m := Mimir{ZoneID: "Z1234567890ABC",
		APIHealthCheckID: "2b7e4f1a-3c5d-4e6f-8a9b-0c1d2e3f4a52",
		AppHealthCheckID: "9c8b7a6f-5e4d-4c3b-8a2f-1e0d9c8b7a53"}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	_, err := s.SeedHostedZone(HostedZoneSpec{ID: m.ZoneID, Name: MimirZoneName})
	add(err)
	ttl := int64(60)
	add(s.SeedRecord(m.ZoneID, Record{Name: MimirAPIName, Type: "CNAME", TTL: &ttl, Values: []string{MimirPrimaryAPILB}}))
	add(s.SeedRecord(m.ZoneID, Record{Name: MimirAppName, Type: "CNAME", TTL: &ttl, Values: []string{MimirPrimaryWebLB}}))
	_, err = s.SeedHealthCheck(HealthCheckSpec{ID: m.APIHealthCheckID, FullyQualifiedDomainName: MimirPrimaryAPILB, ResourcePath: "/health"})
	add(err)
	_, err = s.SeedHealthCheck(HealthCheckSpec{ID: m.AppHealthCheckID, FullyQualifiedDomainName: MimirPrimaryWebLB, ResourcePath: "/"})
	add(err)
	add(s.SeedBucket(MimirBackups))
	now := s.now()
	for day := 3; day >= 0; day-- {
		at := now.Add(-6*time.Hour - time.Duration(day)*24*time.Hour)
		key := fmt.Sprintf("postgres/base-%s.tar.gz", at.UTC().Format("20060102T150405Z"))
		add(s.SeedObject(MimirBackups, key, []byte("base backup "+key), at))
	}
	for i := 6; i >= 1; i-- {
		at := now.Add(-time.Duration(i) * 10 * time.Minute)
		key := fmt.Sprintf("wal/0000000100000A%02X000000%02X", 0x10+i, i)
		add(s.SeedObject(MimirBackups, key, []byte("wal "+key), at))
	}
	if err := errors.Join(errs...); err != nil {
		return Mimir{}, fmt.Errorf("seed Mimir: %w", err)
	}
	return m, nil
}

// RegionOutage stands for the loss of a region: every call signed for it
// hangs, and every health check whose target is a load balancer in it
// reports unhealthy from every checker. The returned function restores the
// region (health checks become healthy again).
func (s *Server) RegionOutage(region string) (restore func()) {
	hang := s.HangRegion(region)
	s.mu.Lock()
	var targets []string
	for _, hc := range s.global.healthChecks {
		if t := hc.cfg.FQDN; strings.Contains(t, "."+region+".") {
			targets = append(targets, t)
			s.global.targetHealth[t] = 0
		}
	}
	s.mu.Unlock()
	return func() {
		hang.Remove()
		s.mu.Lock()
		for _, t := range targets {
			delete(s.global.targetHealth, t)
		}
		s.mu.Unlock()
	}
}
