package steps

import (
	"context"
	"maps"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// Scrubbed returns p with red applied to everything it says to people:
// the summary of each Check, and the errors of Check, Apply and Close
// (their chains kept, for IsPermanent). The runbook's step factory wraps
// every instance it builds in it, so that no kind, however it words its
// results, can show a secret the run resolved. Outputs are left as the
// kind gave them: later steps may need their values, and the executor
// scrubs them before they are stored or shown. A Step stays a Step, a
// Probe a Probe and an Approval an Approval. With a nil red, p is returned
// as is.
func Scrubbed(p Probe, red *secret.Redactor) Probe {
	if p == nil || red == nil {
		return p
	}
	sp := scrubbedProbe{p: p, red: red}
	if a, ok := p.(Approval); ok {
		return &scrubbedApproval{scrubbedProbe: sp, a: a}
	}
	if st, ok := p.(Step); ok {
		return &scrubbedStep{scrubbedProbe: sp, st: st}
	}
	return &sp
}

type scrubbedProbe struct {
	p   Probe
	red *secret.Redactor
}

func (s *scrubbedProbe) Check(ctx context.Context) (Result, error) {
	r, err := s.p.Check(ctx)
	r.Summary = s.red.Scrub(r.Summary)
	r.Outputs = maps.Clone(r.Outputs)
	return r, s.red.ScrubError(err)
}

func (s *scrubbedProbe) Close() error {
	if c, ok := s.p.(Closer); ok {
		return s.red.ScrubError(c.Close())
	}
	return nil
}

type scrubbedStep struct {
	scrubbedProbe
	st Step
}

func (s *scrubbedStep) Apply(ctx context.Context) error {
	return s.red.ScrubError(s.st.Apply(ctx))
}

type scrubbedApproval struct {
	scrubbedProbe
	a Approval
}

func (s *scrubbedApproval) Policy() ApprovalPolicy {
	p := s.a.Policy()
	p.Message = s.red.Scrub(p.Message)
	return p
}

// Unwrap returns the instance inside a Scrubbed wrapper (p itself when it
// is not one), for tests that look at what a factory built.
func Unwrap(p Probe) Probe {
	switch s := p.(type) {
	case *scrubbedProbe:
		return s.p
	case *scrubbedStep:
		return s.p
	case *scrubbedApproval:
		return s.p
	}
	return p
}
