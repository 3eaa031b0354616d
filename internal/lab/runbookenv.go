package lab

import (
	"strings"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// RunbookEnv is the lab's Env under the names runbooks may read with the
// default policy (secret.Policy): each value holding a password (*_DSN,
// *_PASSWORD) as FAILOVER_SECRET_<name>, which ${secret:<name>} reads; every
// other as FAILOVER_RB_<name>, for ${env:FAILOVER_RB_<name>}. It is what
// `bot lab env` exports and what the demo gives the bot.
func RunbookEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		if strings.HasPrefix(k, secret.DefaultEnvPrefix) || strings.HasPrefix(k, secret.DefaultSecretPrefix) {
			out[k] = v // already a runbook's name (the seeds' FAILOVER_RB_MAIP_…)
			continue
		}
		if IsSecret(k) {
			out[secret.DefaultSecretPrefix+k] = v
		} else {
			out[secret.DefaultEnvPrefix+k] = v
		}
	}
	return out
}

// IsSecret reports whether the lab variable name holds a password, key
// or token.
func IsSecret(name string) bool {
	for _, suffix := range []string{"_DSN", "_PASSWORD", "_API_KEY", "_TOKEN", "_ROUTING_KEY", "_SECRET_ACCESS_KEY"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
