// Package aws holds the AWS step kinds: RDS read replica promotion and
// creation, Route 53 records, weighted traffic shifts and health checks,
// EKS node groups, and the read-only probes of a region's readiness
// (EC2 region status, DynamoDB global table replicas, CloudWatch metrics
// and alarms, the newest S3 backup, MSK replicators, the caller identity).
//
// Every kind talks to AWS through aws-sdk-go-v2 clients made from the
// step's aws connection (session.go): the standard credential chain or
// the connection's keys, an optional assumed role, the connection's region
// and endpoint, the SDK's standard retryer for throttling, and every call
// bounded by the step's callTimeout. Kinds that change something wait
// inside Apply until the change took effect (RDS available, Route 53
// INSYNC, EKS ACTIVE), polling the describe calls with a cadence of their
// own (wait.go), so that the step sees a state change within a few seconds
// without the SDK waiters' 15–30 s polls.
package aws

import (
	"log/slog"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the aws connection type: an account and region.
//   - region defaults to the cloudRegion of the connection's runbook region;
//   - credentials come from profile (a shared config profile), or from
//     accessKeyId/secretAccessKey/sessionToken (${secret:…} for the last
//     two), or from the default chain (environment, web identity / IRSA,
//     the shared default profile, container or instance role);
//   - roleArn (with externalId) is assumed with STS on top of them;
//   - accountId pins the account: a connection acting in another one is a
//     permanent error before anything changes;
//   - endpoint overrides the base endpoint of every service (tests, the
//     lab, VPC endpoints); S3 then uses path-style addressing.
//
// Its Check loads the configuration and the credentials the chain would
// use without a network call, so that preflight finds a missing profile or
// unusable credentials before a run starts.
var ConnectionType = steps.ConnectionType{
	Name: "aws",
	Optional: []string{"region", "profile", "endpoint", "accessKeyId", "secretAccessKey", "sessionToken",
		"roleArn", "externalId", "accountId"},
	Check: checkConnection,
}

// Options tune the kinds; the zero value is what production uses.
type Options struct {
	// PollMin and PollMax bound the cadence of the waits inside Apply: the
	// first describe call comes PollMin after the change, each next one
	// 1.5 times later, at most PollMax (defaults 1s and 3s: a state change
	// is seen within about 3s, with at most ~22 describe calls a minute).
	PollMin, PollMax time.Duration
	// TimeScale multiplies the kinds' own waits — the cadence above, the
	// holds of a traffic shift and its gate's interval — but no call
	// timeout (default 1). The lab and tests that run the shipped runbooks
	// against the local AWS with its delays scaled (awstest's TimeScale)
	// scale these alike.
	TimeScale float64
	// RetryMaxBackoff is the longest backoff of the SDK's retryer between
	// two attempts of a call (default DefaultRetryMaxBackoff).
	RetryMaxBackoff time.Duration
	// Logger receives the SDK's own warnings (a response checksum that does
	// not match, clock skew), with the connection's name (default: discard).
	Logger *slog.Logger
	// Now is the clock of ages, metric windows and holds (default time.Now).
	Now func() time.Time
}

// Default cadence of the waits inside Apply.
const (
	DefaultPollMin = time.Second
	DefaultPollMax = 3 * time.Second
)

func (o Options) withDefaults() Options {
	if o.PollMin <= 0 {
		o.PollMin = DefaultPollMin
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(DefaultPollMax, o.PollMin)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// scale applies TimeScale to a wait of the kinds' own.
func (o Options) scale(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*o.TimeScale), time.Millisecond)
}

// kinds is what the build functions share: the options and the sessions
// of the process, one per connection (credentials cache, identity).
type kinds struct {
	opts     Options
	sessions *sessionCache
}

// Kinds returns the AWS step kinds with the default options.
func Kinds() []steps.Kind { return Options{}.Kinds() }

// Kinds returns the AWS step kinds; they share one session per connection.
func (o Options) Kinds() []steps.Kind {
	k := &kinds{opts: o.withDefaults(), sessions: newSessionCache()}
	return []steps.Kind{
		steps.StepKind(spec("aws.rds.promoteReadReplica", "promote an RDS read replica and wait until it is available", "endpoint", "port"), k.newPromote),
		steps.ProbeKind(spec("aws.rds.instanceStatus", "an RDS instance is available (or unavailable, or its region unreachable)", "status", "endpoint", "replicaSource"), k.newInstanceStatus),
		steps.StepKind(spec("aws.rds.createReadReplica", "create an RDS read replica (cross-region for failback) and wait until available", "endpoint", "arn"), k.newCreateReplica),
		steps.StepKind(spec("aws.route53.upsertRecord", "upsert a Route 53 record (plain, alias, weighted, failover) and wait until INSYNC", "changeId"), k.newUpsertRecord),
		steps.StepKind(spec("aws.route53.shiftWeights", "shift weighted Route 53 records through stages with a health gate between", "weights", "stage"), k.newShiftWeights),
		steps.ProbeKind(spec("aws.route53.healthCheck", "a Route 53 health check is healthy (or unhealthy)", "status", "healthyCheckers"), k.newHealthCheck),
		steps.StepKind(spec("aws.route53.updateHealthCheck", "point a Route 53 health check at another endpoint"), k.newUpdateHealthCheck),
		steps.ProbeKind(spec("aws.ec2.regionStatus", "the EC2 API of a region answers and lists it enabled (or does not)", "optInStatus"), k.newRegionStatus),
		steps.StepKind(spec("aws.eks.scaleNodegroup", "set an EKS node group's scaling config and wait until ACTIVE",
			"minSize", "maxSize", "desiredSize", "previousMinSize", "previousMaxSize", "previousDesiredSize"), k.newScaleNodegroup),
		steps.ProbeKind(spec("aws.dynamodb.replicasActive", "a DynamoDB global table has an ACTIVE replica in each region", "replicas"), k.newReplicasActive),
		steps.ProbeKind(spec("aws.cloudwatch.metricBelow", "the newest CloudWatch datapoint of a metric is below a threshold", "value", "timestamp"), k.newMetricBelow),
		steps.ProbeKind(spec("aws.cloudwatch.metric", "the newest CloudWatch datapoint of a metric is above or below a threshold", "value", "timestamp"), k.newMetric),
		steps.ProbeKind(spec("aws.cloudwatch.alarmState", "CloudWatch alarms are in a state (OK, ALARM, INSUFFICIENT_DATA)", "states"), k.newAlarmState),
		steps.ProbeKind(spec("aws.s3.newestObjectAge", "the newest S3 object under a prefix is recent enough", "key", "age"), k.newNewestObjectAge),
		steps.ProbeKind(spec("aws.msk.replicatorRunning", "the matching MSK replicators are RUNNING", "replicators"), k.newReplicatorRunning),
		steps.ProbeKind(spec("aws.sts.callerIdentity", "the account and identity the connection acts as (and its pinned accountId)", "account", "arn", "credentials"), k.newCallerIdentity),
	}
}

// spec is the Spec of a kind on an aws connection.
func spec(name, doc string, outputs ...string) steps.Spec {
	return steps.Spec{Name: name, Doc: doc, Connection: ConnectionType.Name, Outputs: outputs}
}

// Register adds the aws connection type and kinds to r.
func Register(r *steps.Registry) error { return Options{}.Register(r) }

// Register adds the aws connection type and kinds made with o to r.
func (o Options) Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(o.Kinds()...)
}
