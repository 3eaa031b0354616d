package aws

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// identity is who a connection acts as (sts:GetCallerIdentity).
type identity struct {
	account, arn string
}

// identity returns the connection's identity, asking STS on first use and
// caching what it answered for the life of the process.
func (c *client) identity(ctx context.Context) (identity, error) {
	c.mu.Lock()
	if id := c.id; id != nil {
		c.mu.Unlock()
		return *id, nil
	}
	c.mu.Unlock()
	cctx, st, cancel := c.call(ctx, "sts")
	defer cancel()
	out, err := sts.NewFromConfig(c.cfg).GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return identity{}, c.fail(ctx, st, err, "sts:GetCallerIdentity", "*", "who is the caller")
	}
	id := identity{account: aws.ToString(out.Account), arn: aws.ToString(out.Arn)}
	c.mu.Lock()
	c.id = &id
	c.mu.Unlock()
	return id, nil
}

// verify is what every kind does first: with accountId pinned on the
// connection, the identity must be in that account, or the step fails
// permanently before it changes anything. Without a pin it makes no call.
func (c *client) verify(ctx context.Context) error {
	if c.accountID == "" {
		return nil
	}
	id, err := c.identity(ctx)
	if err != nil {
		return err
	}
	return c.mismatch(id)
}

func (c *client) mismatch(id identity) error {
	if c.accountID != "" && id.account != c.accountID {
		return steps.Permanentf("%s: connection %s acts as %s in account %s, but its accountId pins %s: refusing to act in the wrong account",
			c.kind, c.name, id.arn, id.account, c.accountID)
	}
	return nil
}

// CallerIdentity is an aws.sts.callerIdentity probe.
type CallerIdentity struct{ c *client }

var _ steps.Probe = (*CallerIdentity)(nil)

func (k *kinds) newCallerIdentity(ctx context.Context, cfg *CallerIdentityConfig, env steps.Env) (steps.Probe, error) {
	c, err := k.client(ctx, "aws.sts.callerIdentity", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &CallerIdentity{c: c}, nil
}

// Check asks STS who the connection is (once per process) and compares
// the account with the connection's accountId.
func (p *CallerIdentity) Check(ctx context.Context) (steps.Result, error) {
	id, err := p.c.identity(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	out := map[string]string{"account": id.account, "arn": id.arn, "credentials": p.c.source}
	if err := p.c.mismatch(id); err != nil {
		return steps.Result{Outputs: out}, err
	}
	pin := ""
	if p.c.accountID != "" {
		pin = ", as its accountId pins"
	}
	return steps.Result{Done: true, Outputs: out,
		Summary: fmt.Sprintf("connection %s acts as %s in account %s%s (credentials: %s)", p.c.name, id.arn, id.account, pin, p.c.source)}, nil
}

// checkConnection is the connection type's Check: it loads the
// configuration as the kinds do and checks, without a network call, that
// the credentials the chain picked can be loaded.
func checkConnection(ctx context.Context, c *steps.Connection) error {
	s, err := newSession(ctx, c, 0, nil)
	if err != nil {
		return err
	}
	base := s.cfg.Credentials
	if s.roleARN != "" {
		// The role is assumed with the chain's credentials: check those.
		if base, err = baseCredentials(ctx, c); err != nil {
			return err
		}
	}
	return checkCredentials(ctx, s, base, c.Fields["profile"])
}

// baseCredentials loads the credentials a roleArn is assumed with.
func baseCredentials(ctx context.Context, c *steps.Connection) (aws.CredentialsProvider, error) {
	plain := &steps.Connection{Name: c.Name, Type: c.Type, Region: c.Region, Fields: map[string]string{}}
	for k, v := range c.Fields {
		if k != "roleArn" && k != "externalId" {
			plain.Fields[k] = v
		}
	}
	s, err := newSession(ctx, plain, 0, nil)
	if err != nil {
		return nil, err
	}
	return s.cfg.Credentials, nil
}

// checkCredentials checks what can be checked locally of the provider the
// chain resolved: static keys are loaded; a web identity token file must
// be readable; an instance role needs the metadata service enabled. SSO,
// credential_process and container endpoints can only be tried by a call.
func checkCredentials(ctx context.Context, s *session, p aws.CredentialsProvider, profile string) error {
	if p == nil {
		return steps.Permanentf("aws connection %s: no AWS credentials found (connection keys, environment, profile, web identity, instance role)", s.name)
	}
	ps, _ := p.(aws.CredentialProviderSource)
	var sources []aws.CredentialSource
	if ps != nil {
		sources = ps.ProviderSources()
	}
	has := func(want ...aws.CredentialSource) bool {
		for _, src := range sources {
			for _, w := range want {
				if src == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has(aws.CredentialSourceEnvVarsSTSWebIDToken, aws.CredentialSourceProfileSTSWebIDToken):
		path := os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
		if has(aws.CredentialSourceProfileSTSWebIDToken) {
			if sc, err := config.LoadSharedConfigProfile(ctx, profileName(profile)); err == nil && sc.WebIdentityTokenFile != "" {
				path = sc.WebIdentityTokenFile
			}
		}
		if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) == "" {
			return steps.Permanentf("aws connection %s: the web identity token file %s cannot be read or is empty (credentials: %s)", s.name, path, s.source)
		}
		return nil
	case has(aws.CredentialSourceIMDS):
		if disabled, _ := strconv.ParseBool(os.Getenv("AWS_EC2_METADATA_DISABLED")); disabled {
			return steps.Permanentf("aws connection %s: no AWS credentials found (connection keys, environment, profile, web identity), and the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)", s.name)
		}
		return nil
	case has(aws.CredentialSourceCode, aws.CredentialSourceEnvVars, aws.CredentialSourceProfile) &&
		!has(aws.CredentialSourceSTSAssumeRole, aws.CredentialSourceProfileSourceProfile, aws.CredentialSourceProfileNamedProvider):
		// Static keys: retrieving them is local.
		v, err := p.Retrieve(ctx)
		if err != nil {
			return steps.Permanent(s.red.ScrubError(fmt.Errorf("aws connection %s: the credentials cannot be loaded (%s): %w", s.name, s.source, err)))
		}
		if !v.HasKeys() {
			return steps.Permanentf("aws connection %s: the credentials from %s are empty", s.name, s.source)
		}
	}
	return nil
}

func profileName(p string) string {
	if p != "" {
		return p
	}
	if v := os.Getenv("AWS_PROFILE"); v != "" {
		return v
	}
	return "default"
}
