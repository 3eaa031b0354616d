package secret

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Defaults of a Policy.
const (
	// DefaultEnvPrefix is the prefix of the environment variables that
	// ${env:NAME} may read.
	DefaultEnvPrefix = "FAILOVER_RB_"
	// DefaultSecretPrefix is the prefix under which ${secret:NAME} reads a
	// secret from the environment: the variable FAILOVER_SECRET_NAME
	// (Kubernetes: envFrom with prefix FAILOVER_SECRET_).
	DefaultSecretPrefix = "FAILOVER_SECRET_"
)

// ErrRefused is wrapped by the errors of references a Policy refuses.
var ErrRefused = errors.New("not allowed")

// Policy says what a runbook's ${env:…} and ${secret:…} references may
// read. The zero value is the default: ${env:NAME} reads only variables
// starting with FAILOVER_RB_, ${secret:NAME} reads the file NAME of the
// secrets directory or the variable FAILOVER_SECRET_NAME. The bot's own
// credentials are never resolvable, by name or by value.
type Policy struct {
	// EnvPrefixes are the prefixes of the variables ${env:NAME} may read
	// (default [FAILOVER_RB_]).
	EnvPrefixes []string
	// EnvNames are further variables ${env:NAME} may read by name.
	EnvNames []string
	// SecretPrefix is prepended to NAME to read ${secret:NAME} from the
	// environment (default FAILOVER_SECRET_).
	SecretPrefix string
	// Credentials are the bot's own credentials, by the variable that
	// holds them (SLACK_BOT_TOKEN, DATABASE_URL, …): no reference may
	// name them, and no resolved value may be one of their values.
	Credentials map[string]string
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p Policy) envPrefixes() []string {
	if len(p.EnvPrefixes) == 0 {
		return []string{DefaultEnvPrefix}
	}
	return p.EnvPrefixes
}

func (p Policy) secretPrefix() string {
	if p.SecretPrefix == "" {
		return DefaultSecretPrefix
	}
	return p.SecretPrefix
}

// Validate reports a policy that would expose a credential or a secret:
// an empty or malformed prefix, an env prefix that overlaps the secret
// prefix (a secret would be readable unredacted through ${env:…}), a
// prefix or a name that matches one of the credentials.
func (p Policy) Validate() error {
	var errs []error
	sp := p.secretPrefix()
	if !namePattern.MatchString(sp) {
		errs = append(errs, fmt.Errorf("secret environment prefix %q: must be letters, digits and _", sp))
	}
	for _, pre := range p.envPrefixes() {
		switch {
		case !namePattern.MatchString(pre):
			errs = append(errs, fmt.Errorf("runbook environment prefix %q: must be non-empty letters, digits and _", pre))
		case strings.HasPrefix(pre, sp) || strings.HasPrefix(sp, pre):
			errs = append(errs, fmt.Errorf("runbook environment prefix %q overlaps the secret prefix %q: secrets would be readable, unredacted, through ${env:…}", pre, sp))
		}
		for _, c := range p.credentialNames() {
			if strings.HasPrefix(c, pre) {
				errs = append(errs, fmt.Errorf("runbook environment prefix %q would expose the bot's credential %s", pre, c))
			}
		}
	}
	for _, c := range p.credentialNames() {
		if strings.HasPrefix(c, sp) {
			errs = append(errs, fmt.Errorf("secret environment prefix %q would expose the bot's credential %s", sp, c))
		}
	}
	for _, n := range p.EnvNames {
		switch {
		case !namePattern.MatchString(n):
			errs = append(errs, fmt.Errorf("runbook environment name %q: not a variable name", n))
		case p.isCredential(n):
			errs = append(errs, fmt.Errorf("runbook environment name %s is one of the bot's own credentials", n))
		case strings.HasPrefix(n, sp):
			errs = append(errs, fmt.Errorf("runbook environment name %s starts with the secret prefix %s: use ${secret:%s}", n, sp, strings.TrimPrefix(n, sp)))
		}
	}
	return errors.Join(errs...)
}

// credentialNames are the credentials' variables and their _FILE forms.
func (p Policy) credentialNames() []string {
	var out []string
	for n := range p.Credentials {
		out = append(out, n, n+"_FILE")
	}
	slices.Sort(out)
	return out
}

// isCredential reports whether name is a credential's variable, its
// _FILE form, or that with the secret prefix.
func (p Policy) isCredential(name string) bool {
	base := strings.TrimSuffix(strings.TrimPrefix(name, p.secretPrefix()), "_FILE")
	_, ok := p.Credentials[base]
	return ok
}

// CheckEnv says whether ${env:name} may be read, and why not.
func (p Policy) CheckEnv(name string) error {
	if p.isCredential(name) {
		return fmt.Errorf("${env:%s}: %w: %s is one of the bot's own credentials", name, ErrRefused, name)
	}
	if strings.HasPrefix(name, p.secretPrefix()) {
		return fmt.Errorf("${env:%s}: %w: variables starting with %s are secrets; use ${secret:%s}", name, ErrRefused,
			p.secretPrefix(), strings.TrimPrefix(name, p.secretPrefix()))
	}
	if slices.Contains(p.EnvNames, name) {
		return nil
	}
	for _, pre := range p.envPrefixes() {
		if strings.HasPrefix(name, pre) {
			return nil
		}
	}
	allowed := "variables starting with " + strings.Join(p.envPrefixes(), " or ")
	if len(p.EnvNames) > 0 {
		allowed += " and " + strings.Join(p.EnvNames, ", ")
	}
	return fmt.Errorf("${env:%s}: %w: runbooks may read only %s (configuration: runbookEnv)", name, ErrRefused, allowed)
}

// CheckSecret says whether ${secret:name} may be read, and why not.
func (p Policy) CheckSecret(name string) error {
	if p.isCredential(name) {
		return fmt.Errorf("${secret:%s}: %w: %s is one of the bot's own credentials", name, ErrRefused, name)
	}
	return nil
}

// checkValue refuses a resolved value that is one of the credentials.
func (p Policy) checkValue(ref, v string) error {
	for _, n := range slices.Sorted(maps.Keys(p.Credentials)) {
		if c := p.Credentials[n]; c != "" && c == v {
			return fmt.Errorf("%s: %w: its value is the bot's own credential %s", ref, ErrRefused, n)
		}
	}
	return nil
}
