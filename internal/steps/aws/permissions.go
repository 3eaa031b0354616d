package aws

import (
	"fmt"
	"strings"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// This file declares the IAM actions each kind's Check and Apply call,
// with the resource ARNs they act on, next to the calls (each c.fail names
// the same action and ARN for its access-denied message).
// TestPolicyCoversEveryCall runs every kind against awstest and checks
// each operation it made against what its config declares here.
//
// sts:GetCallerIdentity (a pinned accountId is verified with it) needs no
// permission. A connection with roleArn assumes that role: the base
// credentials need sts:AssumeRole on it, which is the base identity's
// policy, not the role's (the one printed), and is noted.

var (
	_ steps.Permissioned = (*PromoteReadReplicaConfig)(nil)
	_ steps.Permissioned = (*InstanceStatusConfig)(nil)
	_ steps.Permissioned = (*CreateReadReplicaConfig)(nil)
	_ steps.Permissioned = (*RegionStatusConfig)(nil)
	_ steps.Permissioned = (*ScaleNodegroupConfig)(nil)
	_ steps.Permissioned = (*ReplicasActiveConfig)(nil)
	_ steps.Permissioned = (*MetricConfig)(nil)
	_ steps.Permissioned = (*MetricBelowConfig)(nil)
	_ steps.Permissioned = (*AlarmStateConfig)(nil)
	_ steps.Permissioned = (*CallerIdentityConfig)(nil)
	_ steps.Permissioned = (*NewestObjectAgeConfig)(nil)
	_ steps.Permissioned = (*ReplicatorRunningConfig)(nil)
	_ steps.Permissioned = (*UpsertRecordConfig)(nil)
	_ steps.Permissioned = (*ShiftWeightsConfig)(nil)
	_ steps.Permissioned = (*HealthCheckConfig)(nil)
	_ steps.Permissioned = (*UpdateHealthCheckConfig)(nil)
)

// arns builds the ARNs of a connection: its region and pinned account
// when known before the run, else *.
type arns struct {
	region, account string
	notes           []string
}

func arnsOf(t steps.PermissionTarget) *arns {
	a := &arns{region: steps.Known(t.Field("region")), account: steps.Known(t.Field("accountId"))}
	if a.region == steps.Any {
		a.note("the connection's region is not known before the run: any region")
	}
	if t.Field("roleArn") != "" {
		a.note("the base credentials of connection " + t.Conn.Name + " also need sts:AssumeRole on " + t.Field("roleArn"))
	}
	return a
}

func (a *arns) note(s string) { a.notes = append(a.notes, s) }

// name is v when known before the run; else * and a note naming field.
func (a *arns) name(field, v string) string {
	if v == "" || steps.IsTemplate(v) {
		a.note(field + " is templated: any")
		return steps.Any
	}
	return v
}

func (a *arns) rdsDB(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", a.region, a.account, a.name("dbInstanceIdentifier", id))
}

// need is one need with the notes gathered so far.
func (a *arns) need(actions []string, resources ...string) steps.IAMNeed {
	return steps.IAMNeed{Actions: actions, Resources: resources, Note: strings.Join(a.notes, "; ")}
}

func iam(needs ...steps.IAMNeed) (steps.Permissions, error) {
	return steps.Permissions{IAM: needs}, nil
}

// Permissions: the replica is described and promoted.
func (c *PromoteReadReplicaConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"rds:DescribeDBInstances", "rds:PromoteReadReplica"}, a.rdsDB(c.DBInstanceIdentifier)))
}

// Permissions: the instance is described.
func (c *InstanceStatusConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"rds:DescribeDBInstances"}, a.rdsDB(c.DBInstanceIdentifier)))
}

// Permissions: the replica is described and created; RDS authorises the
// creation on both the new replica and its source.
func (c *CreateReadReplicaConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	replica := a.rdsDB(c.DBInstanceIdentifier)
	src := a.rdsDB(c.SourceDBInstanceIdentifier)
	if c.KMSKeyID != "" {
		a.note("an encrypted replica also needs kms:CreateGrant and kms:DescribeKey on its key")
	}
	return iam(a.need([]string{"rds:DescribeDBInstances"}, replica),
		a.need([]string{"rds:CreateDBInstanceReadReplica"}, replica, src))
}

// Permissions: the regions are described (no resource-level permission).
func (c *RegionStatusConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"ec2:DescribeRegions"}, steps.Any))
}

// Permissions: the node group is described and updated, and its update
// followed.
func (c *ScaleNodegroupConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	ng := fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/*", a.region, a.account, a.name("clusterName", c.ClusterName), a.name("nodegroupName", c.NodegroupName))
	return iam(a.need([]string{"eks:DescribeNodegroup", "eks:DescribeUpdate", "eks:UpdateNodegroupConfig"}, ng))
}

// Permissions: the table is described.
func (c *ReplicasActiveConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"dynamodb:DescribeTable"}, fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", a.region, a.account, a.name("tableName", c.TableName))))
}

// Permissions: metric data is read (no resource-level permission).
func (c *MetricConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"cloudwatch:GetMetricData"}, steps.Any))
}

// Permissions: as aws.cloudwatch.metric.
func (c *MetricBelowConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	return c.MetricConfig.Permissions(t)
}

func (a *arns) alarms(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.region, a.account, a.name("alarmNames", n)))
	}
	return out
}

// Permissions: the alarms are described.
func (c *AlarmStateConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"cloudwatch:DescribeAlarms"}, a.alarms(c.AlarmNames)...))
}

// Permissions: none (sts:GetCallerIdentity needs no permission).
func (c *CallerIdentityConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return steps.Permissions{}, nil
}

// Permissions: the bucket is listed (s3:ListBucket authorises
// ListObjectsV2; a prefix narrows it with the s3:prefix condition, which
// this policy leaves out).
func (c *NewestObjectAgeConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"s3:ListBucket"}, "arn:aws:s3:::"+a.name("bucket", c.Bucket)))
}

// Permissions: the region's replicators are listed.
func (c *ReplicatorRunningConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"kafka:ListReplicators"}, fmt.Sprintf("arn:aws:kafka:%s:%s:replicator/*", a.region, a.account)))
}

// zoneNeeds are the Route 53 record kinds': the zone is found (by name:
// ListHostedZonesByName, and then its id is not known before the run),
// its record sets listed and changed, the change followed.
func (a *arns) zoneNeeds(z Zone) []steps.IAMNeed {
	var out []steps.IAMNeed
	zone := "arn:aws:route53:::hostedzone/" + steps.Known(z.HostedZoneID)
	if z.HostedZoneID == "" || steps.IsTemplate(z.HostedZoneID) {
		a.note("the hosted zone is looked up by name (or templated): any zone")
		out = append(out, a.need([]string{"route53:ListHostedZonesByName"}, steps.Any))
	}
	return append(out,
		a.need([]string{"route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"}, zone),
		a.need([]string{"route53:GetChange"}, "arn:aws:route53:::change/*"))
}

func (a *arns) healthChecks(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, "arn:aws:route53:::healthcheck/"+a.name("healthCheckId", id))
	}
	return out
}

// Permissions: see zoneNeeds.
func (c *UpsertRecordConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	return iam(arnsOf(t).zoneNeeds(c.Zone)...)
}

// Permissions: see zoneNeeds, and the health gate's reads: health check
// statuses, alarms, metric data.
func (c *ShiftWeightsConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	needs := a.zoneNeeds(c.Zone)
	g := c.HealthGate
	if len(g.HealthCheckIDs) > 0 {
		needs = append(needs, a.need([]string{"route53:GetHealthCheckStatus"}, a.healthChecks(g.HealthCheckIDs)...))
	}
	if len(g.AlarmNames) > 0 {
		needs = append(needs, a.need([]string{"cloudwatch:DescribeAlarms"}, a.alarms(g.AlarmNames)...))
	}
	if len(g.Metrics) > 0 {
		needs = append(needs, a.need([]string{"cloudwatch:GetMetricData"}, steps.Any))
	}
	return iam(needs...)
}

// Permissions: the health check's status is read.
func (c *HealthCheckConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"route53:GetHealthCheckStatus"}, a.healthChecks([]string{c.HealthCheckID})...))
}

// Permissions: the health check is read and updated.
func (c *UpdateHealthCheckConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	a := arnsOf(t)
	return iam(a.need([]string{"route53:GetHealthCheck", "route53:UpdateHealthCheck"}, a.healthChecks([]string{c.HealthCheckID})...))
}
