package aws

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// UpsertRecord is an aws.route53.upsertRecord step.
type UpsertRecord struct {
	a   *r53API
	cfg UpsertRecordConfig

	mu       sync.Mutex
	changeID string // the last change this step made
	insync   bool   // and whether it was seen INSYNC
}

var _ steps.Step = (*UpsertRecord)(nil)

func (k *kinds) newUpsertRecord(ctx context.Context, cfg *UpsertRecordConfig, env steps.Env) (steps.Step, error) {
	a, err := k.r53API(ctx, "aws.route53.upsertRecord", env, cfg.CallTimeout, cfg.Zone)
	if err != nil {
		return nil, err
	}
	return &UpsertRecord{a: a, cfg: *cfg}, nil
}

// plan compares the live record sets with the config: the record set
// wanted, the live one it replaces (nil if none) and the live sets of the
// name and type to delete with it (weighted or failover sets a plain
// record replaces).
func (s *UpsertRecord) plan(ctx context.Context) (want types.ResourceRecordSet, live *types.ResourceRecordSet, remove []types.ResourceRecordSet, err error) {
	c := s.cfg
	sets, err := s.a.recordSets(ctx, c.Name, c.Type)
	if err != nil {
		return want, nil, nil, err
	}
	for i := range sets {
		if aws.ToString(sets[i].SetIdentifier) == c.SetIdentifier {
			live = &sets[i]
		} else if c.SetIdentifier == "" {
			remove = append(remove, sets[i])
		}
	}
	if c.WeightOnly() {
		if live == nil {
			return want, nil, nil, steps.Permanentf("%s: there is no weighted record %s %s with set identifier %s to change the weight of (%s): give its values or aliasTarget",
				s.a.kind, c.Name, c.Type, c.SetIdentifier, s.a.where())
		}
		if live.Weight == nil {
			return want, nil, nil, steps.Permanentf("%s: the record %s %s %s is not a weighted one (%s)", s.a.kind, c.Name, c.Type, c.SetIdentifier, s.a.where())
		}
		want = *live
		want.Weight = aws.Int64(int64(*c.Weight))
		return want, live, nil, nil
	}
	want = recordSet(c.Name, c.Type, c.TTL, c.Values, c.AliasTarget, c.HealthCheckID)
	if c.SetIdentifier != "" {
		want.SetIdentifier = aws.String(c.SetIdentifier)
		if c.Weight != nil {
			want.Weight = aws.Int64(int64(*c.Weight))
		}
		want.Failover = types.ResourceRecordSetFailover(c.Failover)
	}
	return want, live, remove, nil
}

// Check is done when the live record set is the one configured (and no
// weighted or failover set of the name remains beside a plain record), and
// the change this step made, if any, is INSYNC.
func (s *UpsertRecord) Check(ctx context.Context) (steps.Result, error) {
	if err := s.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	want, live, remove, err := s.plan(ctx)
	s.mu.Lock()
	id, synced := s.changeID, s.insync
	s.mu.Unlock()
	out := map[string]string{"changeId": id}
	if err != nil {
		return steps.Result{Outputs: out}, err
	}
	name := fmt.Sprintf("%s %s", s.cfg.Name, s.cfg.Type)
	switch {
	case live == nil:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s does not exist yet (to be %s)", name, describeRecord(want))}, nil
	case !sameRecord(*live, want):
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is %s (to be %s)", name, describeRecord(*live), describeRecord(want))}, nil
	case len(remove) > 0:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is %s, beside %d weighted or failover record sets to remove", name, describeRecord(*live), len(remove))}, nil
	}
	if id != "" && !synced {
		ok, err := s.a.insync(ctx, id)
		if err != nil {
			return steps.Result{Outputs: out}, err
		}
		if !ok {
			return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is %s, change %s PENDING", name, describeRecord(want), id)}, nil
		}
		s.mu.Lock()
		s.insync = true
		s.mu.Unlock()
	}
	return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s is %s (INSYNC)", name, describeRecord(want))}, nil
}

// Apply upserts the record set in one change batch (deleting the weighted
// or failover sets a plain record replaces) and waits until the change is
// INSYNC. A record already as configured is not changed again.
func (s *UpsertRecord) Apply(ctx context.Context) error {
	if err := s.a.verify(ctx); err != nil {
		return err
	}
	want, live, remove, err := s.plan(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	id := s.changeID
	s.mu.Unlock()
	if live == nil || !sameRecord(*live, want) || len(remove) > 0 {
		changes := make([]types.Change, 0, len(remove)+1)
		for _, r := range remove {
			changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: &r})
		}
		changes = append(changes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &want})
		s.a.log.InfoContext(ctx, "upserting a Route 53 record", "name", s.cfg.Name, "type", s.cfg.Type, "to", describeRecord(want), "removed", len(remove))
		if id, err = s.a.change(ctx, fmt.Sprintf("failover-bot: %s %s", s.cfg.Name, s.cfg.Type), changes); err != nil {
			return err
		}
		s.mu.Lock()
		s.changeID, s.insync = id, false
		s.mu.Unlock()
	}
	if id == "" {
		return nil // as configured before this step ran
	}
	if err := s.a.waitInsync(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	s.insync = true
	s.mu.Unlock()
	return nil
}
