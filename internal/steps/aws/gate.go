package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
)

// gate is the health gate of a traffic shift.
type gate struct {
	cfg  HealthGate
	r53  *r53API
	cw   *cwAPI
	http []*httpcheck.Check
}

func newGate(r53 *r53API, cfg HealthGate) (*gate, error) {
	g := &gate{cfg: cfg, r53: r53, cw: &cwAPI{client: r53.client, cw: cloudwatch.NewFromConfig(r53.cfg)}}
	for i := range cfg.HTTPChecks {
		h, err := httpcheck.New(&cfg.HTTPChecks[i], r53.log)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("%s: healthGate.httpChecks[%d]: %w", r53.kind, i, err)
		}
		g.http = append(g.http, h)
	}
	return g, nil
}

func (g *gate) close() {
	for _, h := range g.http {
		_ = h.Close()
	}
}

// gateResult is one evaluation of the gate.
type gateResult struct {
	pass bool
	why  string // what failed, or what passed
}

// evaluate looks at every part of the gate. A part that cannot be
// observed makes the evaluation an error (transient: look again; a
// permanent one stops the shift where it is); a part observed failing
// makes the gate fail.
func (g *gate) evaluate(ctx context.Context) (gateResult, error) {
	var failed, passed []string
	var errs []error
	for _, id := range g.cfg.HealthCheckIDs {
		n, err := g.r53.healthStatus(ctx, id)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !n.isHealthy():
			failed = append(failed, fmt.Sprintf("health check %s unhealthy (%d/%d checkers healthy)", id, n.healthy, n.total))
		default:
			passed = append(passed, fmt.Sprintf("health check %s healthy (%d/%d)", id, n.healthy, n.total))
		}
	}
	if len(g.cfg.AlarmNames) > 0 {
		states, err := g.cw.alarmStates(ctx, g.cfg.AlarmNames)
		if err != nil {
			errs = append(errs, err)
		}
		for _, n := range g.cfg.AlarmNames {
			switch st, ok := states[n]; {
			case !ok:
			case st != AlarmOK:
				failed = append(failed, fmt.Sprintf("alarm %s is %s", n, st))
			default:
				passed = append(passed, "alarm "+n+" OK")
			}
		}
	}
	for i := range g.cfg.Metrics {
		r, err := g.cw.metric(ctx, &g.cfg.Metrics[i])
		switch {
		case err != nil:
			errs = append(errs, err)
		case !r.holds:
			failed = append(failed, r.summary)
		default:
			passed = append(passed, r.summary)
		}
	}
	for _, h := range g.http {
		res, err := h.Check(ctx)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !res.Done:
			failed = append(failed, res.Summary)
		default:
			passed = append(passed, res.Summary)
		}
	}
	if len(failed) > 0 {
		return gateResult{why: strings.Join(failed, "; ")}, nil
	}
	if err := errors.Join(errs...); err != nil {
		for _, e := range errs {
			if steps.IsPermanent(e) {
				return gateResult{}, steps.Permanent(fmt.Errorf("health gate: %w", err))
			}
		}
		return gateResult{}, fmt.Errorf("health gate: %w", err)
	}
	return gateResult{pass: true, why: strings.Join(passed, "; ")}, nil
}
