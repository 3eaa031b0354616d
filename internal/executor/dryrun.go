package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// Planner runs the dry parts of a run: the assessment (Assess) and the
// plan (Plan). It needs no store and changes nothing: every step is built
// and checked, never applied. The zero value is ready to use; an Executor
// has one built from its Config (Executor.Planner).
type Planner struct {
	// CheckTimeout is an assessment check's deadline when the runbook gives
	// none, and caps each Check of a dry run. Default 10s.
	CheckTimeout time.Duration
	// Redactor scrubs every summary, output and error shown; nil scrubs
	// nothing.
	Redactor *secret.Redactor
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock for durations; default time.Now.
	Now func() time.Time
	// PlanHash computes the plan hash a run is bound to; default
	// (*runbook.Runbook).PlanHash.
	PlanHash func(rb *runbook.Runbook, params map[string]string) string
	// BindKey, if set, keys the digest of the resolved connection values
	// the plan hash also binds (runbook.ConnectionDigest).
	BindKey []byte
	// Access, if set, checks that the bot holds the permissions the
	// runbook's steps need; Assess adds its findings to the assessment as
	// checks, so a missing permission is a no-go before anyone approves.
	Access AccessChecker
}

// AccessChecker checks the permissions a runbook's steps need on each of
// their connections, one Check per connection (access.Checker).
type AccessChecker interface {
	CheckAccess(ctx context.Context, rb *runbook.Runbook) []Check
}

func (p *Planner) setDefaults() {
	if p.CheckTimeout <= 0 {
		p.CheckTimeout = 10 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.PlanHash == nil {
		p.PlanHash = (*runbook.Runbook).PlanHash
	}
}

func (p *Planner) scrub(s string) string { return p.Redactor.Scrub(s) }

// Hash is the hash a run of rb with params is bound to: its plan hash
// and, with a BindKey, a keyed digest of what its connections resolve to
// now (a secret rewritten after approval changes it; the values are never
// shown). It fails when a connection does not resolve.
func (p *Planner) Hash(rb *runbook.Runbook, params map[string]string) (string, error) {
	p.setDefaults()
	h := p.PlanHash(rb, params)
	d, err := rb.ConnectionDigest(p.BindKey, params)
	if err != nil {
		return "", errors.New(p.scrub(err.Error()))
	}
	if d == "" {
		return h, nil
	}
	sum := sha256.Sum256([]byte(h + "\x00" + d))
	return hex.EncodeToString(sum[:]), nil
}
