package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// AWSOptions turn on the lab's local AWS (`bot lab up --aws`): one server
// speaking the wire protocols of RDS, Route 53, EKS, DynamoDB, CloudWatch,
// S3, MSK, EC2 and STS (awstest), seeded with the MAIP and Mimir
// deployments of runbooks/maip-*.yaml and mimir-*.yaml in us-east-1 (the
// primary region) and us-west-2 (DR).
type AWSOptions struct {
	// TimeScale multiplies the real-world delays of the resources' states
	// (a 90 s promotion, a 30 s Route 53 change; default DefaultAWSTimeScale).
	TimeScale float64
}

// DefaultAWSTimeScale runs the lab's AWS ten times faster than AWS: a
// promotion takes 9 s, a Route 53 change 3 s.
const DefaultAWSTimeScale = 0.1

// AWS is the lab's local AWS.
type AWS struct {
	srv   *awstest.Server
	maip  awstest.MAIP
	mimir awstest.Mimir

	mu sync.Mutex
	// outage undoes the failure of the primary region, nil when none.
	outage func()
}

// StartAWS starts a seeded local AWS on a free loopback port.
func StartAWS(ctx context.Context, opts AWSOptions) (*AWS, error) {
	if opts.TimeScale <= 0 {
		opts.TimeScale = DefaultAWSTimeScale
	}
	srv, err := awstest.Start(ctx, awstest.Options{TimeScale: opts.TimeScale})
	if err != nil {
		return nil, fmt.Errorf("lab: local AWS: %w", err)
	}
	a := &AWS{srv: srv}
	var errs []error
	a.maip, err = awstest.SeedMAIP(srv)
	errs = append(errs, err)
	a.mimir, err = awstest.SeedMimir(srv)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("lab: local AWS: %w", err)
	}
	return a, nil
}

// URL is the base endpoint of every service.
func (a *AWS) URL() string { return a.srv.URL() }

// Env is what points the SDK's default chain (and the AWS CLI) at the
// local AWS in any region — AWS_ENDPOINT_URL and an access key, but no
// AWS_REGION: each aws connection names its own — and the ${env:…} the
// MAIP and Mimir runbooks read (health check ids, the account, the KMS key).
// AWS_SECRET_ACCESS_KEY is the fake's own key, a secret all the same.
func (a *AWS) Env() map[string]string {
	env := map[string]string{"LAB_AWS_ENDPOINT": a.srv.URL(), "AWS_EC2_METADATA_DISABLED": "true"}
	for k, v := range a.srv.Env(awstest.DRRegion) {
		if k != "AWS_REGION" {
			env[k] = v
		}
	}
	maps.Copy(env, a.maip.Env())
	maps.Copy(env, a.mimir.Env())
	return env
}

// primaryTargets are the primary region's load balancers the seeds' health
// checks look at.
var primaryTargets = []string{awstest.MAIPPrimaryALB, awstest.MimirPrimaryAPILB, awstest.MimirPrimaryWebLB}

// FailPrimary fails us-east-1 as the lab's failure modes do: blackhole
// makes every call signed for it hang; stop and refuse make it answer
// every call with a 5xx error (one loopback port cannot refuse a region
// alone). Either way the health checks of its load balancers fail.
func (a *AWS) FailPrimary(mode FailMode) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.restore()
	if mode == FailBlackhole {
		a.outage = a.srv.RegionOutage(awstest.PrimaryRegion)
		return
	}
	f := a.srv.Inject(awstest.Fault{Op: "*", Region: awstest.PrimaryRegion, Kind: awstest.FaultServerError})
	for _, t := range primaryTargets {
		_ = a.srv.SetTargetHealth(t, 0)
	}
	a.outage = func() {
		f.Remove()
		for _, t := range primaryTargets {
			_ = a.srv.SetTargetHealth(t, awstest.Checkers)
		}
	}
}

// Restore ends the primary region's failure.
func (a *AWS) Restore() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.restore()
}

func (a *AWS) restore() {
	if a.outage != nil {
		a.outage()
		a.outage = nil
	}
}

// AWSSeeds are what the local AWS was seeded with (zero without one).
type AWSSeeds struct {
	MAIP  awstest.MAIP
	Mimir awstest.Mimir
}

// AWSSeeds is what the lab's local AWS was seeded with.
func (l *Lab) AWSSeeds() AWSSeeds {
	if l.aws == nil {
		return AWSSeeds{}
	}
	return AWSSeeds{MAIP: l.aws.maip, Mimir: l.aws.mimir}
}

// Close stops the local AWS.
func (a *AWS) Close() error { return a.srv.Close() }

// The hooks of Lab (lab.go) for its local AWS; each does nothing without one.

func (l *Lab) upAWS(ctx context.Context) error {
	if l.opts.AWS == nil {
		return nil
	}
	a, err := StartAWS(context.WithoutCancel(ctx), *l.opts.AWS)
	if err != nil {
		return err
	}
	l.aws = a
	l.log.InfoContext(ctx, "local AWS up", "endpoint", a.URL())
	return nil
}

func (l *Lab) withAWSEnv(env map[string]string) map[string]string {
	if l.aws != nil {
		maps.Copy(env, l.aws.Env())
	}
	return env
}

func (l *Lab) failAWS(mode FailMode) {
	if l.aws != nil {
		l.aws.FailPrimary(mode)
	}
}

func (l *Lab) restoreAWS() {
	if l.aws != nil {
		l.aws.Restore()
	}
}

func (l *Lab) downAWS() error {
	if l.aws == nil {
		return nil
	}
	return l.aws.Close()
}

// AWSServer is the lab's local AWS (nil without Options.AWS), for tests
// that read what it saw (its calls, its resources' transitions).
func (l *Lab) AWSServer() *awstest.Server {
	if l.aws == nil {
		return nil
	}
	return l.aws.srv
}
