package aws

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ShiftWeights is an aws.route53.shiftWeights step.
type ShiftWeights struct {
	a        *r53API
	cfg      ShiftWeightsConfig
	gate     *gate
	holds    []time.Duration
	interval time.Duration
}

var (
	_ steps.Step   = (*ShiftWeights)(nil)
	_ steps.Closer = (*ShiftWeights)(nil)
)

func (k *kinds) newShiftWeights(ctx context.Context, cfg *ShiftWeightsConfig, env steps.Env) (steps.Step, error) {
	a, err := k.r53API(ctx, "aws.route53.shiftWeights", env, cfg.CallTimeout, cfg.Zone)
	if err != nil {
		return nil, err
	}
	g, err := newGate(a, cfg.HealthGate)
	if err != nil {
		return nil, err
	}
	holds := cfg.Holds()
	for i := range holds {
		holds[i] = k.opts.scale(holds[i])
	}
	return &ShiftWeights{a: a, cfg: *cfg, gate: g, holds: holds, interval: k.opts.scale(steps.ParseDuration(cfg.HealthGate.Interval))}, nil
}

// Close releases the HTTP checks of the gate.
func (s *ShiftWeights) Close() error {
	s.gate.close()
	return nil
}

// shiftState is where the live records are.
type shiftState struct {
	// stage is 1..n for the stages, 0 before the first (a plain record,
	// nothing yet, or the initial weights), -1 for weights that are none of
	// these.
	stage   int
	weights map[string]int // live weights by set identifier (nil for a plain record)
	plain   *types.ResourceRecordSet
	// dataOK: every weighted record holds the configured data.
	dataOK bool
}

func (s *ShiftWeights) n() int { return len(s.cfg.Stages) }

// formatWeights is set=weight in the order of the records.
func (s *ShiftWeights) formatWeights(w map[string]int, sep string) string {
	if w == nil {
		return ""
	}
	parts := make([]string, 0, len(s.cfg.Records))
	for _, r := range s.cfg.Records {
		if v, ok := w[r.SetIdentifier]; ok {
			parts = append(parts, r.SetIdentifier+"="+strconv.Itoa(v))
		}
	}
	return strings.Join(parts, sep)
}

// want is the record set of r with weight w.
func (s *ShiftWeights) want(r WeightedRecord, w int) types.ResourceRecordSet {
	rs := recordSet(s.cfg.Name, s.cfg.Type, s.cfg.TTL, r.Values, r.AliasTarget, r.HealthCheckID)
	rs.SetIdentifier = aws.String(r.SetIdentifier)
	rs.Weight = aws.Int64(int64(w))
	return rs
}

// observe reads the live records of the name and type and finds the stage
// their weights are at. A record set of the name that the shift does not
// know (another set identifier, a failover record) is a permanent error:
// the shift could not say where traffic goes.
func (s *ShiftWeights) observe(ctx context.Context) (shiftState, error) {
	sets, err := s.a.recordSets(ctx, s.cfg.Name, s.cfg.Type)
	if err != nil {
		return shiftState{}, err
	}
	known := map[string]WeightedRecord{}
	for _, r := range s.cfg.Records {
		known[r.SetIdentifier] = r
	}
	st := shiftState{dataOK: true}
	for i := range sets {
		rs := sets[i]
		id := aws.ToString(rs.SetIdentifier)
		switch r, ok := known[id]; {
		case id == "":
			st.plain = &sets[i]
		case !ok || rs.Weight == nil:
			return shiftState{}, steps.Permanentf("%s: %s %s has a record set %s that is not one of the shift's records (%s): the shift cannot tell where traffic goes",
				s.a.kind, s.cfg.Name, s.cfg.Type, describeRecord(rs), s.a.where())
		default:
			if st.weights == nil {
				st.weights = map[string]int{}
			}
			st.weights[id] = int(*rs.Weight)
			if !sameRecord(rs, s.want(r, int(*rs.Weight))) {
				st.dataOK = false
			}
		}
	}
	switch {
	case st.weights == nil:
		st.stage = 0 // a plain record, or nothing yet
		return st, nil
	case len(st.weights) != len(s.cfg.Records):
		st.stage = -1
		return st, nil
	}
	st.stage = -1
	for i, stage := range s.cfg.Stages {
		if maps.Equal(stage.Weights, st.weights) {
			st.stage = i + 1
			break
		}
	}
	if st.stage < 0 && len(s.cfg.InitialWeights) > 0 && maps.Equal(s.cfg.InitialWeights, st.weights) {
		st.stage = 0
	}
	return st, nil
}

// result is what Check reports for st.
func (s *ShiftWeights) result(st shiftState) steps.Result {
	out := map[string]string{"weights": s.formatWeights(st.weights, ","), "stage": ""}
	name := s.cfg.Name + " " + s.cfg.Type
	switch {
	case st.stage < 0:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s: weights %s are none of the %d stages", name, s.formatWeights(st.weights, ", "), s.n())}
	case st.stage == 0 && st.plain != nil:
		out["stage"] = "0"
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s: before the shift, a plain record %s", name, describeRecord(*st.plain))}
	case st.stage == 0 && st.weights == nil:
		out["stage"] = "0"
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s: before the shift, no record yet", name)}
	}
	out["stage"] = strconv.Itoa(st.stage)
	summary := fmt.Sprintf("%s: stage %d of %d (%s)", name, st.stage, s.n(), s.formatWeights(st.weights, ", "))
	if st.stage == 0 {
		summary = fmt.Sprintf("%s: before the shift (%s)", name, s.formatWeights(st.weights, ", "))
	}
	if !st.dataOK {
		summary += ", records' data to update"
	}
	return steps.Result{Done: st.stage == s.n() && st.dataOK, Outputs: out, Summary: summary}
}

// Check derives the stage from the live weights: done at the last stage.
func (s *ShiftWeights) Check(ctx context.Context) (steps.Result, error) {
	if err := s.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	st, err := s.observe(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	return s.result(st), nil
}

// Apply resumes the shift from the stage the live weights are at: it sets
// the first stage if the shift has not begun (replacing a plain record in
// the same change batch), then holds each stage while the gate passes and
// sets the next, waiting for every change to be INSYNC. A failed gate sets
// the previous stage's weights and fails permanently. Live weights that are
// none of the stages are refused (a permanent error): the operator decides.
func (s *ShiftWeights) Apply(ctx context.Context) error {
	if err := s.a.verify(ctx); err != nil {
		return err
	}
	st, err := s.observe(ctx)
	if err != nil {
		return err
	}
	if st.stage < 0 {
		return steps.Permanentf("%s: %s %s has weights %s, none of the stages nor the initial weights (%s): set a stage's weights (aws.route53.upsertRecord) and retry",
			s.a.kind, s.cfg.Name, s.cfg.Type, s.formatWeights(st.weights, ", "), s.a.where())
	}
	k := st.stage
	if k == 0 || !st.dataOK {
		k = max(k, 1)
		if err := s.set(ctx, st, s.cfg.Stages[k-1].Weights, fmt.Sprintf("stage %d of %d", k, s.n())); err != nil {
			return err
		}
	} else {
		s.a.log.InfoContext(ctx, "resuming the shift", "name", s.cfg.Name, "stage", k, "weights", s.formatWeights(st.weights, ","))
	}
	for k < s.n() {
		if err := s.hold(ctx, k); err != nil {
			return err
		}
		k++
		if err := s.set(ctx, shiftState{}, s.cfg.Stages[k-1].Weights, fmt.Sprintf("stage %d of %d", k, s.n())); err != nil {
			return err
		}
	}
	return nil
}

// set writes the weights in one change batch (deleting a plain record
// first) and waits until it is INSYNC.
func (s *ShiftWeights) set(ctx context.Context, st shiftState, w map[string]int, what string) error {
	var changes []types.Change
	if st.plain != nil {
		changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: st.plain})
	}
	for _, r := range s.cfg.Records {
		rs := s.want(r, w[r.SetIdentifier])
		changes = append(changes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &rs})
	}
	s.a.log.InfoContext(ctx, "shifting weights", "name", s.cfg.Name, "to", what, "weights", s.formatWeights(w, ","))
	id, err := s.a.change(ctx, fmt.Sprintf("failover-bot: %s %s to %s (%s)", s.cfg.Name, s.cfg.Type, what, s.formatWeights(w, ", ")), changes)
	if err != nil {
		return err
	}
	return s.a.waitInsync(ctx, id)
}

// hold keeps stage k (1-based) for its hold while the gate passes: it is
// evaluated at once and every interval, and must pass at the end. A
// failed evaluation returns to stage k-1 (the initial weights for the
// first) and fails permanently.
func (s *ShiftWeights) hold(ctx context.Context, k int) error {
	end := s.a.now().Add(s.holds[k-1])
	s.a.log.InfoContext(ctx, "holding a stage", "name", s.cfg.Name, "stage", k, "hold", s.holds[k-1])
	for {
		r, err := s.gate.evaluate(ctx)
		switch {
		case err != nil && steps.IsPermanent(err):
			return err
		case err != nil:
			s.a.log.WarnContext(ctx, "health gate could not be evaluated; looking again", "stage", k, "error", err)
		case !r.pass:
			return s.rollback(ctx, k, r.why)
		case !s.a.now().Before(end):
			s.a.log.InfoContext(ctx, "health gate held", "stage", k, "gate", r.why)
			return nil
		}
		wait := min(s.interval, max(end.Sub(s.a.now()), 0))
		if err != nil {
			wait = min(s.interval, s.a.poll.max)
		}
		if wait <= 0 {
			wait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if err != nil {
				return fmt.Errorf("%s: holding stage %d, the step's deadline came: %w", s.a.kind, k, err)
			}
			return fmt.Errorf("%s: holding stage %d, the step's deadline came before the hold ended: %w", s.a.kind, k, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// rollback sets the weights of the stage before k and fails permanently.
func (s *ShiftWeights) rollback(ctx context.Context, k int, why string) error {
	at := s.formatWeights(s.cfg.Stages[k-1].Weights, ", ")
	prev, what := s.cfg.InitialWeights, "the initial weights"
	if k > 1 {
		prev, what = s.cfg.Stages[k-2].Weights, fmt.Sprintf("stage %d", k-1)
	}
	if len(prev) == 0 {
		return steps.Permanentf("%s: the health gate failed at stage %d (%s): %s; the weights stay (no initial weights to return to)", s.a.kind, k, at, why)
	}
	s.a.log.WarnContext(ctx, "health gate failed; returning to the previous stage", "stage", k, "to", what, "why", why)
	if err := s.set(ctx, shiftState{}, prev, what+" after a failed health gate"); err != nil {
		return steps.Permanent(fmt.Errorf("%s: the health gate failed at stage %d (%s): %s; returning to %s (%s) FAILED: %w",
			s.a.kind, k, at, why, what, s.formatWeights(prev, ", "), err))
	}
	return steps.Permanentf("%s: the health gate failed at stage %d (%s): %s; the weights are back to %s (%s)",
		s.a.kind, k, at, why, what, s.formatWeights(prev, ", "))
}
