package aws

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// RDS instance states that pass by themselves (the instance is being
// changed); any other state but available needs a person.
var rdsPassing = map[string]bool{
	"creating": true, "modifying": true, "rebooting": true, "backing-up": true, "starting": true, "renaming": true,
	"upgrading": true, "maintenance": true, "storage-optimization": true, "storage-config-upgrade": true,
	"configuring-enhanced-monitoring": true, "configuring-iam-database-auth": true, "configuring-log-exports": true,
	"converting-to-vpc": true, "moving-to-vpc": true, "resetting-master-credentials": true,
}

const rdsAvailable = "available"

// rdsAPI is an RDS client of one step.
type rdsAPI struct {
	*client
	rds *rds.Client
}

func (k *kinds) rdsAPI(ctx context.Context, kind string, env steps.Env, callTimeout string) (*rdsAPI, error) {
	c, err := k.client(ctx, kind, env, callTimeout)
	if err != nil {
		return nil, err
	}
	return &rdsAPI{client: c, rds: rds.NewFromConfig(c.cfg)}, nil
}

func (a *rdsAPI) arn(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", a.region, a.account(), id)
}

// errNotFound marks a DB instance that does not exist (nil instance).
var errNotFound = errors.New("not found")

// describe returns the instance, or errNotFound wrapped. st tells whether
// RDS answered at all (for probes of a dead region).
func (a *rdsAPI) describe(ctx context.Context, id string) (*types.DBInstance, *callState, error) {
	cctx, st, cancel := a.call(ctx, "RDS")
	defer cancel()
	out, err := a.rds.DescribeDBInstances(cctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	var nf *types.DBInstanceNotFoundFault
	switch {
	case errors.As(err, &nf) || (err == nil && len(out.DBInstances) == 0):
		return nil, st, steps.Permanent(fmt.Errorf("%s: DB instance %s does not exist (%s): %w", a.kind, id, a.where(), errNotFound))
	case err != nil:
		return nil, st, a.fail(ctx, st, err, "rds:DescribeDBInstances", a.arn(id), "describe %s", id)
	}
	return &out.DBInstances[0], st, nil
}

// dbState is what the kinds read of a DB instance.
type dbState struct {
	status, source, address, port, arn string
	replicas                           []string
}

func stateOf(db *types.DBInstance) dbState {
	s := dbState{status: aws.ToString(db.DBInstanceStatus), source: aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier),
		arn: aws.ToString(db.DBInstanceArn), replicas: db.ReadReplicaDBInstanceIdentifiers}
	if e := db.Endpoint; e != nil {
		s.address = aws.ToString(e.Address)
		if e.Port != nil {
			s.port = strconv.Itoa(int(*e.Port))
		}
	}
	return s
}

func (s dbState) replica() bool { return s.source != "" }

// InstanceStatus is an aws.rds.instanceStatus probe.
type InstanceStatus struct {
	a   *rdsAPI
	cfg InstanceStatusConfig
}

var _ steps.Probe = (*InstanceStatus)(nil)

func (k *kinds) newInstanceStatus(ctx context.Context, cfg *InstanceStatusConfig, env steps.Env) (steps.Probe, error) {
	a, err := k.rdsAPI(ctx, "aws.rds.instanceStatus", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &InstanceStatus{a: a, cfg: *cfg}, nil
}

// Check describes the instance. With expect unavailable, an RDS API that
// does not answer within the call timeout, or answers only 5xx, is the
// evidence sought: done. An instance that does not exist is a permanent
// error either way (a typo must not confirm a failure).
func (p *InstanceStatus) Check(ctx context.Context) (steps.Result, error) {
	id := p.cfg.DBInstanceIdentifier
	out := map[string]string{"status": "", "endpoint": "", "replicaSource": ""}
	down := p.cfg.Expect == ExpectUnavailable
	if err := p.a.verify(ctx); err != nil && (!down || steps.IsPermanent(err)) {
		return steps.Result{Outputs: out}, err
	}
	db, st, err := p.a.describe(ctx, id)
	if err != nil {
		if down && !steps.IsPermanent(err) && (unreachable(ctx, st, err) || serverFailure(err)) {
			out["status"] = "unreachable"
			return steps.Result{Done: true, Outputs: out,
				Summary: fmt.Sprintf("the RDS API in %s does not answer (within %s): %s counts as unavailable", p.a.region, p.a.timeout, id)}, nil
		}
		return steps.Result{Outputs: out}, err
	}
	s := stateOf(db)
	out["status"], out["endpoint"], out["replicaSource"] = s.status, s.address, s.source
	desc := fmt.Sprintf("%s is %s", id, s.status)
	if s.replica() {
		desc += ", a read replica of " + s.source
	}
	switch {
	case down:
		return steps.Result{Done: s.status != rdsAvailable, Outputs: out, Summary: desc + expectSuffix(s.status != rdsAvailable, "unavailable")}, nil
	case p.cfg.ReadReplica && !s.replica():
		return steps.Result{Outputs: out, Summary: desc + ", not a read replica (expected an available read replica)"}, nil
	}
	return steps.Result{Done: s.status == rdsAvailable, Outputs: out, Summary: desc + expectSuffix(s.status == rdsAvailable, "available")}, nil
}

// expectSuffix says what was expected when it does not hold yet.
func expectSuffix(ok bool, want string) string {
	if ok {
		return ""
	}
	return " (expected " + want + ")"
}

// Promote is an aws.rds.promoteReadReplica step.
type Promote struct {
	a   *rdsAPI
	cfg PromoteReadReplicaConfig
}

var _ steps.Step = (*Promote)(nil)

func (k *kinds) newPromote(ctx context.Context, cfg *PromoteReadReplicaConfig, env steps.Env) (steps.Step, error) {
	a, err := k.rdsAPI(ctx, "aws.rds.promoteReadReplica", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &Promote{a: a, cfg: *cfg}, nil
}

// Check is done when the instance is available and no longer a read
// replica. An instance that is not a replica but the source of replicas
// is the writer itself: a permanent error (the identifier names the wrong
// instance), found before anything changes.
func (p *Promote) Check(ctx context.Context) (steps.Result, error) {
	if err := p.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	db, _, err := p.a.describe(ctx, p.cfg.DBInstanceIdentifier)
	if err != nil {
		return steps.Result{}, err
	}
	return p.judge(stateOf(db))
}

func (p *Promote) judge(s dbState) (steps.Result, error) {
	id := p.cfg.DBInstanceIdentifier
	out := map[string]string{"endpoint": s.address, "port": s.port}
	switch {
	case !s.replica() && len(s.replicas) > 0:
		return steps.Result{Outputs: out}, steps.Permanentf("%s: %s is not a read replica: it is the writer that %s replicate from (%s); nothing to promote — does dbInstanceIdentifier name the replica?",
			p.a.kind, id, strings.Join(s.replicas, ", "), p.a.where())
	case !s.replica() && s.status == rdsAvailable:
		return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s is a standalone writer, available at %s:%s", id, s.address, s.port)}, nil
	case !s.replica():
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is no longer a read replica, %s (waiting for available)", id, s.status)}, nil
	}
	return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is a read replica of %s, %s", id, s.source, s.status)}, nil
}

// Apply promotes the replica (unless a promotion or another change is
// already under way) and waits until the instance is available and no
// longer a replica, through modifying, rebooting and backing-up. A
// replica in a state that does not pass by itself (failed, stopped,
// storage-full) or taking a backup is refused: a permanent error naming
// the state. On an instance already promoted it does nothing.
func (p *Promote) Apply(ctx context.Context) error {
	if err := p.a.verify(ctx); err != nil {
		return err
	}
	id := p.cfg.DBInstanceIdentifier
	db, _, err := p.a.describe(ctx, id)
	if err != nil {
		return err
	}
	s := stateOf(db)
	if res, err := p.judge(s); err != nil || res.Done {
		return err
	}
	switch {
	case s.replica() && s.status == "backing-up":
		return steps.Permanentf("%s: %s is taking a backup: RDS cannot promote it now; promote it when the backup ends (retry the step) (%s)", p.a.kind, id, p.a.where())
	case s.replica() && s.status == rdsAvailable:
		if err := p.promote(ctx); err != nil {
			return err
		}
	case !rdsPassing[s.status]:
		return steps.Permanentf("%s: %s is %s, a state that does not pass by itself: RDS cannot promote it (%s)", p.a.kind, id, s.status, p.a.where())
	}
	return p.a.waitFor(ctx, "until "+id+" is a promoted, available writer", func(ctx context.Context) (observation, error) {
		db, _, err := p.a.describe(ctx, id)
		if err != nil {
			return observation{}, err
		}
		s := stateOf(db)
		if s.replica() && s.status == rdsAvailable {
			// Another change ended and left it a replica: promote now.
			if err := p.promote(ctx); err != nil {
				return observation{}, err
			}
			return observation{state: "promoting"}, nil
		}
		if !rdsPassing[s.status] && s.status != rdsAvailable {
			return observation{}, steps.Permanentf("%s: %s went %s while being promoted (%s)", p.a.kind, id, s.status, p.a.where())
		}
		res, err := p.judge(s)
		return observation{done: res.Done, state: s.status}, err
	})
}

func (p *Promote) promote(ctx context.Context) error {
	id := p.cfg.DBInstanceIdentifier
	in := &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(id)}
	if d := p.cfg.BackupRetentionPeriod; d != nil {
		in.BackupRetentionPeriod = aws.Int32(int32(*d))
	}
	p.a.log.InfoContext(ctx, "promoting the read replica", "instance", id, "region", p.a.region)
	cctx, st, cancel := p.a.call(ctx, "RDS")
	defer cancel()
	_, err := p.a.rds.PromoteReadReplica(cctx, in)
	return p.a.fail(ctx, st, err, "rds:PromoteReadReplica", p.a.arn(id), "promote %s", id)
}
