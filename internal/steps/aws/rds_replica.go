package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// CreateReplica is an aws.rds.createReadReplica step.
type CreateReplica struct {
	a   *rdsAPI
	cfg CreateReadReplicaConfig
}

var _ steps.Step = (*CreateReplica)(nil)

func (k *kinds) newCreateReplica(ctx context.Context, cfg *CreateReadReplicaConfig, env steps.Env) (steps.Step, error) {
	a, err := k.rdsAPI(ctx, "aws.rds.createReadReplica", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	if cfg.SourceRegion == a.region {
		return nil, steps.Permanentf("aws.rds.createReadReplica: sourceRegion %s is the region of connection %s: leave it out for a replica in the same region", cfg.SourceRegion, a.name)
	}
	return &CreateReplica{a: a, cfg: *cfg}, nil
}

// sameSource reports whether the live source (an identifier in the same
// region, an ARN across regions) is the configured one.
func (p *CreateReplica) sameSource(live string) bool {
	want := p.cfg.SourceDBInstanceIdentifier
	if live == want {
		return true
	}
	// A same-region source may be given by ARN and listed by name.
	return strings.HasPrefix(want, "arn:") && strings.HasSuffix(want, ":db:"+live)
}

// look describes the replica: nil when it does not exist yet.
func (p *CreateReplica) look(ctx context.Context) (*dbState, error) {
	db, _, err := p.a.describe(ctx, p.cfg.DBInstanceIdentifier)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return nil, nil
		}
		return nil, err
	}
	s := stateOf(db)
	return &s, nil
}

// Check is done when the replica exists, replicates from the source and
// is available. An instance of that name that is not a replica of the
// source is a permanent error (a name taken by something else).
func (p *CreateReplica) Check(ctx context.Context) (steps.Result, error) {
	if err := p.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	s, err := p.look(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	return p.judge(s)
}

func (p *CreateReplica) judge(s *dbState) (steps.Result, error) {
	id, src := p.cfg.DBInstanceIdentifier, p.cfg.SourceDBInstanceIdentifier
	if s == nil {
		return steps.Result{Outputs: map[string]string{"endpoint": "", "arn": ""},
			Summary: fmt.Sprintf("%s does not exist yet (a replica of %s to create)", id, src)}, nil
	}
	out := map[string]string{"endpoint": s.address, "arn": s.arn}
	switch {
	case !s.replica() || !p.sameSource(s.source):
		from := "is not a read replica"
		if s.replica() {
			from = "replicates from " + s.source
		}
		return steps.Result{Outputs: out}, steps.Permanentf("%s: %s exists but %s, not from %s (%s): choose another dbInstanceIdentifier or remove it",
			p.a.kind, id, from, src, p.a.where())
	case s.status == rdsAvailable:
		return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s replicates from %s, available at %s", id, src, s.address)}, nil
	case !rdsPassing[s.status]:
		return steps.Result{Outputs: out}, steps.Permanentf("%s: %s is %s, a state that does not pass by itself (%s)", p.a.kind, id, s.status, p.a.where())
	}
	return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s replicates from %s, %s", id, src, s.status)}, nil
}

// Apply creates the replica unless it exists, then waits until it is
// available (through creating, backing-up, …). Created already (a crash
// after the call), it only waits.
func (p *CreateReplica) Apply(ctx context.Context) error {
	if err := p.a.verify(ctx); err != nil {
		return err
	}
	s, err := p.look(ctx)
	if err != nil {
		return err
	}
	if res, err := p.judge(s); err != nil || res.Done {
		return err
	}
	if s == nil {
		if err := p.create(ctx); err != nil {
			return err
		}
	}
	return p.a.waitFor(ctx, "until "+p.cfg.DBInstanceIdentifier+" is available", func(ctx context.Context) (observation, error) {
		s, err := p.look(ctx)
		if err != nil {
			return observation{}, err
		}
		if s == nil {
			return observation{state: "not listed yet"}, nil
		}
		res, err := p.judge(s)
		return observation{done: res.Done, state: s.status}, err
	})
}

func (p *CreateReplica) create(ctx context.Context) error {
	c := p.cfg
	in := &rds.CreateDBInstanceReadReplicaInput{
		DBInstanceIdentifier:       aws.String(c.DBInstanceIdentifier),
		SourceDBInstanceIdentifier: aws.String(c.SourceDBInstanceIdentifier),
		MultiAZ:                    aws.Bool(c.MultiAZ),
	}
	if c.SourceRegion != "" {
		in.SourceRegion = aws.String(c.SourceRegion) // the SDK presigns the request for the source region
	}
	if c.DBInstanceClass != "" {
		in.DBInstanceClass = aws.String(c.DBInstanceClass)
	}
	if c.KMSKeyID != "" {
		in.KmsKeyId = aws.String(c.KMSKeyID)
	}
	p.a.log.InfoContext(ctx, "creating a read replica", "instance", c.DBInstanceIdentifier, "source", c.SourceDBInstanceIdentifier, "region", p.a.region)
	cctx, st, cancel := p.a.call(ctx, "RDS")
	defer cancel()
	_, err := p.a.rds.CreateDBInstanceReadReplica(cctx, in)
	var exists *types.DBInstanceAlreadyExistsFault
	if errors.As(err, &exists) {
		return nil // created by an Apply before a crash: the wait looks at it
	}
	return p.a.fail(ctx, st, err, "rds:CreateDBInstanceReadReplica", p.a.arn(c.DBInstanceIdentifier), "create %s from %s", c.DBInstanceIdentifier, c.SourceDBInstanceIdentifier)
}
