// Package aws holds the AWS step kinds: RDS read replica promotion and
// creation, Route 53 records, weighted traffic shifts and health checks,
// EKS node groups, and the read-only probes of a region's readiness
// (EC2 region status, DynamoDB global table replicas, CloudWatch metrics,
// the newest S3 backup, MSK replicators).
//
// The kinds are declared (steps.DeclaredProbe, steps.DeclaredStep: name,
// config schema, connection, outputs) so that runbooks validate and plan;
// their Check/Apply arrive with the AWS issue (on aws-sdk-go-v2), and until
// then building such a step fails with a clear error.
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

// Kinds returns the AWS step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.DeclaredStep[PromoteReadReplicaConfig](spec("aws.rds.promoteReadReplica", "promote an RDS read replica and wait until it is available", "endpoint", "port")),
		steps.DeclaredProbe[InstanceStatusConfig](spec("aws.rds.instanceStatus", "an RDS instance is available (or unavailable, or its region unreachable)", "status", "endpoint", "replicaSource")),
		steps.DeclaredStep[CreateReadReplicaConfig](spec("aws.rds.createReadReplica", "create an RDS read replica (cross-region for failback) and wait until available", "endpoint", "arn")),
		steps.DeclaredStep[UpsertRecordConfig](spec("aws.route53.upsertRecord", "upsert a Route 53 record (plain or alias) and wait until INSYNC", "changeId")),
		steps.DeclaredStep[ShiftWeightsConfig](spec("aws.route53.shiftWeights", "shift weighted Route 53 records through stages with a health gate between", "weights", "stage")),
		steps.DeclaredProbe[HealthCheckConfig](spec("aws.route53.healthCheck", "a Route 53 health check is healthy (or unhealthy)", "status", "healthyCheckers")),
		steps.DeclaredStep[UpdateHealthCheckConfig](spec("aws.route53.updateHealthCheck", "point a Route 53 health check at another endpoint")),
		steps.DeclaredProbe[RegionStatusConfig](spec("aws.ec2.regionStatus", "the EC2 API of a region answers and lists it enabled (or does not)", "optInStatus")),
		steps.DeclaredStep[ScaleNodegroupConfig](spec("aws.eks.scaleNodegroup", "set an EKS node group's scaling config and wait until ACTIVE")),
		steps.DeclaredProbe[ReplicasActiveConfig](spec("aws.dynamodb.replicasActive", "a DynamoDB global table has an ACTIVE replica in each region", "replicas")),
		steps.DeclaredProbe[MetricBelowConfig](spec("aws.cloudwatch.metricBelow", "the newest CloudWatch datapoint of a metric is below a threshold", "value", "timestamp")),
		steps.DeclaredProbe[NewestObjectAgeConfig](spec("aws.s3.newestObjectAge", "the newest S3 object under a prefix is recent enough", "key", "age")),
		steps.DeclaredProbe[ReplicatorRunningConfig](spec("aws.msk.replicatorRunning", "the matching MSK replicators are RUNNING", "replicators")),
	}
}

// spec is the Spec of a kind on an aws connection.
func spec(name, doc string, outputs ...string) steps.Spec {
	return steps.Spec{Name: name, Doc: doc, Connection: ConnectionType.Name, Outputs: outputs}
}

// Register adds the aws connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
