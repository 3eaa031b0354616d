package commands

import (
	"strings"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
)

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

// checkSecrets resolves every ${secret:…} the runbook refers to, so that
// a missing secret is reported before approval rather than in the middle
// of a failover. Only names and places appear in the error.
func checkSecrets(rb *runbook.Runbook, r *secret.Resolver) error {
	if r == nil {
		return nil
	}
	return rb.CheckSecrets(r)
}
