// Package aws holds the AWS step kinds: RDS read replica promotion and
// creation, Route 53 records, weighted traffic shifts and health checks,
// EKS node groups, and the read-only probes of a region's readiness
// (EC2 region status, DynamoDB global table replicas, CloudWatch metrics,
// the newest S3 backup, MSK replicators).
//
// The kinds are declared (name, config schema, connection, outputs) so that
// runbooks validate; their Check/Apply arrive with the AWS issue (on
// aws-sdk-go-v2): until then New is nil and running such a step fails with
// a clear error.
package aws

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the aws connection type: an account and region.
// region defaults to the cloudRegion of the connection's runbook region;
// credentials come from profile, or from accessKeyId/secretAccessKey
// (${secret:…} only), or from the default chain (environment, web identity,
// instance role); endpoint overrides the service endpoints (tests, VPC
// endpoints).
var ConnectionType = steps.ConnectionType{
	Name:     "aws",
	Optional: []string{"region", "profile", "endpoint", "accessKeyId", "secretAccessKey"},
}

func kind(name, doc string, readOnly bool, outputs []string, newConfig func() steps.Config) steps.Kind {
	return steps.Kind{
		Name:       name,
		Doc:        doc,
		ReadOnly:   readOnly,
		Connection: ConnectionType.Name,
		Outputs:    outputs,
		NewConfig:  newConfig,
	}
}

// Kinds returns the AWS step kinds.
func Kinds() []steps.Kind {
	const probe, change = true, false
	return []steps.Kind{
		kind("aws.rds.promoteReadReplica", "promote an RDS read replica and wait until it is available",
			change, []string{"endpoint", "port"}, func() steps.Config { return &PromoteReadReplicaConfig{} }),
		kind("aws.rds.instanceStatus", "an RDS instance is available (or unavailable, or its region unreachable)",
			probe, []string{"status", "endpoint", "replicaSource"}, func() steps.Config { return &InstanceStatusConfig{} }),
		kind("aws.rds.createReadReplica", "create an RDS read replica (cross-region for failback) and wait until available",
			change, []string{"endpoint", "arn"}, func() steps.Config { return &CreateReadReplicaConfig{} }),
		kind("aws.route53.upsertRecord", "upsert a Route 53 record (plain or alias) and wait until INSYNC",
			change, []string{"changeId"}, func() steps.Config { return &UpsertRecordConfig{} }),
		kind("aws.route53.shiftWeights", "shift weighted Route 53 records through stages with a health gate between",
			change, []string{"weights", "stage"}, func() steps.Config { return &ShiftWeightsConfig{} }),
		kind("aws.route53.healthCheck", "a Route 53 health check is healthy (or unhealthy)",
			probe, []string{"status", "healthyCheckers"}, func() steps.Config { return &HealthCheckConfig{} }),
		kind("aws.route53.updateHealthCheck", "point a Route 53 health check at another endpoint",
			change, nil, func() steps.Config { return &UpdateHealthCheckConfig{} }),
		kind("aws.ec2.regionStatus", "the EC2 API of a region answers and lists it enabled (or does not)",
			probe, []string{"optInStatus"}, func() steps.Config { return &RegionStatusConfig{} }),
		kind("aws.eks.scaleNodegroup", "set an EKS node group's scaling config and wait until ACTIVE",
			change, nil, func() steps.Config { return &ScaleNodegroupConfig{} }),
		kind("aws.dynamodb.replicasActive", "a DynamoDB global table has an ACTIVE replica in each region",
			probe, []string{"replicas"}, func() steps.Config { return &ReplicasActiveConfig{} }),
		kind("aws.cloudwatch.metricBelow", "the newest CloudWatch datapoint of a metric is below a threshold",
			probe, []string{"value", "timestamp"}, func() steps.Config { return &MetricBelowConfig{} }),
		kind("aws.s3.newestObjectAge", "the newest S3 object under a prefix is recent enough",
			probe, []string{"key", "age"}, func() steps.Config { return &NewestObjectAgeConfig{} }),
		kind("aws.msk.replicatorRunning", "the matching MSK replicators are RUNNING",
			probe, []string{"replicators"}, func() steps.Config { return &ReplicatorRunningConfig{} }),
	}
}

// Register adds the aws connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
