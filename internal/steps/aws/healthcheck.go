package aws

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// healthyShare is Route 53's rule: a health check is healthy when more
// than 18% of its checkers report it healthy.
const healthyShare = 0.18

// checkerCounts is what the checkers of a health check report.
type checkerCounts struct{ healthy, total int }

func (n checkerCounts) isHealthy() bool {
	return n.total > 0 && float64(n.healthy) > healthyShare*float64(n.total)
}

func (n checkerCounts) status() string {
	if n.isHealthy() {
		return ExpectHealthy
	}
	return ExpectUnhealthy
}

// healthStatus reads the per-checker observations of a health check
// (`aws route53 get-health-check-status`).
func (a *r53API) healthStatus(ctx context.Context, id string) (checkerCounts, error) {
	cctx, st, cancel := a.call(ctx, "Route 53")
	defer cancel()
	out, err := a.r53.GetHealthCheckStatus(cctx, &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(id)})
	if err != nil {
		if apiCode(err) == "NoSuchHealthCheck" {
			return checkerCounts{}, steps.Permanentf("%s: there is no health check %s", a.kind, id)
		}
		return checkerCounts{}, a.fail(ctx, st, err, "route53:GetHealthCheckStatus", "arn:aws:route53:::healthcheck/"+id, "status of health check %s", id)
	}
	var n checkerCounts
	for _, o := range out.HealthCheckObservations {
		n.total++
		if r := o.StatusReport; r != nil && strings.HasPrefix(aws.ToString(r.Status), "Success") {
			n.healthy++
		}
	}
	return n, nil
}

// HealthCheck is an aws.route53.healthCheck probe.
type HealthCheck struct {
	a   *r53API
	cfg HealthCheckConfig
}

var _ steps.Probe = (*HealthCheck)(nil)

func (k *kinds) newHealthCheck(ctx context.Context, cfg *HealthCheckConfig, env steps.Env) (steps.Probe, error) {
	a, err := k.r53API(ctx, "aws.route53.healthCheck", env, cfg.CallTimeout, Zone{})
	if err != nil {
		return nil, err
	}
	return &HealthCheck{a: a, cfg: *cfg}, nil
}

// Check reads the checkers' observations: done when Route 53's decision
// is expect, or with minCheckers when at least that many checkers report
// expect.
func (p *HealthCheck) Check(ctx context.Context) (steps.Result, error) {
	if err := p.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	id := p.cfg.HealthCheckID
	n, err := p.a.healthStatus(ctx, id)
	if err != nil {
		return steps.Result{}, err
	}
	out := map[string]string{"status": n.status(), "healthyCheckers": fmt.Sprintf("%d/%d", n.healthy, n.total)}
	summary := fmt.Sprintf("health check %s is %s: %d of %d checkers report healthy", id, n.status(), n.healthy, n.total)
	done := n.status() == p.cfg.Expect
	if m := p.cfg.MinCheckers; m != nil {
		seen := n.healthy
		if p.cfg.Expect == ExpectUnhealthy {
			seen = n.total - n.healthy
		}
		done = seen >= *m
		summary += fmt.Sprintf(" (%d report %s, want at least %d)", seen, p.cfg.Expect, *m)
	} else if !done {
		summary += " (expected " + p.cfg.Expect + ")"
	}
	return steps.Result{Done: done, Summary: summary, Outputs: out}, nil
}

// UpdateHealthCheck is an aws.route53.updateHealthCheck step.
type UpdateHealthCheck struct {
	a   *r53API
	cfg UpdateHealthCheckConfig
}

var _ steps.Step = (*UpdateHealthCheck)(nil)

func (k *kinds) newUpdateHealthCheck(ctx context.Context, cfg *UpdateHealthCheckConfig, env steps.Env) (steps.Step, error) {
	a, err := k.r53API(ctx, "aws.route53.updateHealthCheck", env, cfg.CallTimeout, Zone{})
	if err != nil {
		return nil, err
	}
	return &UpdateHealthCheck{a: a, cfg: *cfg}, nil
}

func (s *UpdateHealthCheck) get(ctx context.Context) (*types.HealthCheck, error) {
	id := s.cfg.HealthCheckID
	cctx, st, cancel := s.a.call(ctx, "Route 53")
	defer cancel()
	out, err := s.a.r53.GetHealthCheck(cctx, &route53.GetHealthCheckInput{HealthCheckId: aws.String(id)})
	if err != nil {
		if apiCode(err) == "NoSuchHealthCheck" {
			return nil, steps.Permanentf("%s: there is no health check %s", s.a.kind, id)
		}
		return nil, s.a.fail(ctx, st, err, "route53:GetHealthCheck", "arn:aws:route53:::healthcheck/"+id, "get health check %s", id)
	}
	return out.HealthCheck, nil
}

// differs lists the configured fields the health check does not have yet.
func (s *UpdateHealthCheck) differs(hc *types.HealthCheck) []string {
	c, live := s.cfg, hc.HealthCheckConfig
	if live == nil {
		live = &types.HealthCheckConfig{}
	}
	var d []string
	if c.IPAddress != "" && aws.ToString(live.IPAddress) != c.IPAddress {
		d = append(d, fmt.Sprintf("ipAddress %s (is %s)", c.IPAddress, orNone(aws.ToString(live.IPAddress))))
	}
	if c.FullyQualifiedDomainName != "" && !sameHost(aws.ToString(live.FullyQualifiedDomainName), c.FullyQualifiedDomainName) {
		d = append(d, fmt.Sprintf("fullyQualifiedDomainName %s (is %s)", c.FullyQualifiedDomainName, orNone(aws.ToString(live.FullyQualifiedDomainName))))
	}
	if c.Port != nil && aws.ToInt32(live.Port) != int32(*c.Port) {
		d = append(d, fmt.Sprintf("port %d (is %d)", *c.Port, aws.ToInt32(live.Port)))
	}
	if c.ResourcePath != "" && aws.ToString(live.ResourcePath) != c.ResourcePath {
		d = append(d, fmt.Sprintf("resourcePath %s (is %s)", c.ResourcePath, orNone(aws.ToString(live.ResourcePath))))
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Check is done when the health check has every configured field.
func (s *UpdateHealthCheck) Check(ctx context.Context) (steps.Result, error) {
	if err := s.a.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	hc, err := s.get(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	if d := s.differs(hc); len(d) > 0 {
		return steps.Result{Summary: fmt.Sprintf("health check %s to get %s", s.cfg.HealthCheckID, strings.Join(d, ", "))}, nil
	}
	return steps.Result{Done: true, Summary: fmt.Sprintf("health check %s checks %s (version %d)", s.cfg.HealthCheckID, target(hc), aws.ToInt64(hc.HealthCheckVersion))}, nil
}

func target(hc *types.HealthCheck) string {
	c := hc.HealthCheckConfig
	if c == nil {
		return "?"
	}
	host := aws.ToString(c.FullyQualifiedDomainName)
	if host == "" {
		host = aws.ToString(c.IPAddress)
	}
	return host + ":" + strconv.Itoa(int(aws.ToInt32(c.Port))) + aws.ToString(c.ResourcePath)
}

// Apply updates the fields that differ, bound to the version it read
// (HealthCheckVersion): a concurrent update makes it fail transiently and
// the executor looks again. A health check already updated is left alone.
func (s *UpdateHealthCheck) Apply(ctx context.Context) error {
	if err := s.a.verify(ctx); err != nil {
		return err
	}
	hc, err := s.get(ctx)
	if err != nil {
		return err
	}
	if len(s.differs(hc)) == 0 {
		return nil
	}
	c := s.cfg
	in := &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(c.HealthCheckID), HealthCheckVersion: hc.HealthCheckVersion}
	if c.IPAddress != "" {
		in.IPAddress = aws.String(c.IPAddress)
	}
	if c.FullyQualifiedDomainName != "" {
		in.FullyQualifiedDomainName = aws.String(c.FullyQualifiedDomainName)
	}
	if c.Port != nil {
		in.Port = aws.Int32(int32(*c.Port))
	}
	if c.ResourcePath != "" {
		in.ResourcePath = aws.String(c.ResourcePath)
	}
	s.a.log.InfoContext(ctx, "updating a Route 53 health check", "healthCheck", c.HealthCheckID, "change", strings.Join(s.differs(hc), ", "))
	cctx, st, cancel := s.a.call(ctx, "Route 53")
	defer cancel()
	_, err = s.a.r53.UpdateHealthCheck(cctx, in)
	return s.a.fail(ctx, st, err, "route53:UpdateHealthCheck", "arn:aws:route53:::healthcheck/"+c.HealthCheckID, "update health check %s", c.HealthCheckID)
}
