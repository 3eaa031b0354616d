package commands

import (
	"strings"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// bindParams checks the given parameters against the runbook's and fills
// defaults (runbook.BindParams).
func bindParams(rb *runbook.Runbook, given map[string]string) (map[string]string, error) {
	return rb.BindParams(given)
}

func paramList(rb *runbook.Runbook) string {
	if len(rb.Params) == 0 {
		return "none"
	}
	var names []string
	for _, p := range rb.Params {
		n := p.Name
		if p.Required {
			n += " (required)"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// PlanHash is the hash a run's approvals are bound to: the runbook's plan
// with the bound parameters (runbook.PlanHash). The error is for callers
// that may swap in a hash that can fail.
func PlanHash(rb *runbook.Runbook, params map[string]string) (string, error) {
	return rb.PlanHash(params), nil
}

// checkSecrets resolves every ${secret:…} the runbook refers to, so that
// a missing secret is reported before approval rather than in the middle
// of a failover. Only names and places appear in the error.
func checkSecrets(rb *runbook.Runbook, r *secret.Resolver) error {
	if r == nil {
		return nil
	}
	return rb.CheckSecrets(r)
}
