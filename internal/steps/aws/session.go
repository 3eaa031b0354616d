package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Retries of the SDK's standard retryer within one call: throttling and
// 5xx answers are retried with jittered backoff up to retryMaxBackoff, as
// long as the call's timeout allows (attempts beyond it are cut by the
// call's context).
const (
	retryMaxAttempts = 8
	// DefaultRetryMaxBackoff is the longest backoff between two attempts.
	DefaultRetryMaxBackoff = 2 * time.Second
)

// RoleSessionName names the sessions of an assumed roleArn in CloudTrail.
const RoleSessionName = "failover-bot"

var (
	accountID = regexp.MustCompile(`^[0-9]{12}$`)
	roleARN   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
)

// session is an aws connection made usable: the SDK configuration (region,
// credentials behind one cache, retryer, endpoint, HTTP client) and what
// the kinds report about it. Sessions are shared by every step on the same
// connection in a process (sessionCache), so an assumed role is assumed
// once and the identity looked up once.
type session struct {
	name      string // the connection's name, for messages
	region    string
	endpoint  string // "" for AWS's own
	roleARN   string
	accountID string // pinned, or ""
	cfg       aws.Config
	red       *secret.Redactor
	source    string // where the credentials come from, for assess

	mu sync.Mutex
	id *identity // cached once known
}

// sessionCache holds the sessions of a process by connection digest.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessionCache() *sessionCache { return &sessionCache{m: map[string]*session{}} }

// get returns the session of c, making it on first use.
func (sc *sessionCache) get(ctx context.Context, c *steps.Connection, retryBackoff time.Duration, log *slog.Logger) (*session, error) {
	key := digest(c)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s := sc.m[key]; s != nil {
		return s, nil
	}
	s, err := newSession(ctx, c, retryBackoff, log)
	if err != nil {
		return nil, err
	}
	sc.m[key] = s
	return s, nil
}

// digest identifies a connection by its name, type and expanded fields
// (secrets included, so a rotated key makes a new session); it is never
// shown.
func digest(c *steps.Connection) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q\n", c.Name, c.Type, c.Region)
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, c.Fields[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newSession checks the connection's fields and loads the SDK
// configuration. It makes no network call: credentials are fetched on the
// first API call. Its errors are permanent and never hold a secret.
func newSession(ctx context.Context, c *steps.Connection, retryBackoff time.Duration, log *slog.Logger) (*session, error) {
	if c == nil {
		return nil, steps.Permanentf("needs an aws connection")
	}
	f := c.Fields
	s := &session{name: c.Name, region: f["region"], endpoint: f["endpoint"], roleARN: f["roleArn"],
		accountID: f["accountId"], red: &secret.Redactor{}}
	s.red.Add(f["secretAccessKey"])
	s.red.Add(f["sessionToken"])
	var problems []string
	for name, v := range f {
		if steps.IsTemplate(v) {
			problems = append(problems, name+" still holds an unexpanded template")
		}
	}
	switch {
	case s.region == "":
		problems = append(problems, "no region: set region, or cloudRegion on the connection's runbook region")
	case !regionName.MatchString(s.region):
		problems = append(problems, fmt.Sprintf("region %q is not an AWS region such as us-west-2", s.region))
	}
	if s.endpoint != "" {
		if u, err := url.Parse(s.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "endpoint is not an http:// or https:// URL (value not shown)")
		}
	}
	if s.roleARN != "" && !roleARN.MatchString(s.roleARN) {
		problems = append(problems, fmt.Sprintf("roleArn %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", s.roleARN))
	}
	if f["externalId"] != "" && s.roleARN == "" {
		problems = append(problems, "externalId needs roleArn")
	}
	if s.accountID != "" && !accountID.MatchString(s.accountID) {
		problems = append(problems, fmt.Sprintf("accountId %q is not a 12-digit AWS account id", s.accountID))
	}
	keys := f["accessKeyId"] != "" || f["secretAccessKey"] != ""
	switch {
	case keys && (f["accessKeyId"] == "" || f["secretAccessKey"] == ""):
		problems = append(problems, "accessKeyId and secretAccessKey go together")
	case f["sessionToken"] != "" && !keys:
		problems = append(problems, "sessionToken needs accessKeyId and secretAccessKey")
	case keys && f["profile"] != "":
		problems = append(problems, "at most one of profile, accessKeyId")
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, steps.Permanentf("aws connection %s: %s", c.Name, strings.Join(problems, "; "))
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRegion(s.region),
		config.WithHTTPClient(httpClient()),
		config.WithRetryer(func() aws.Retryer { return newRetryer(retryBackoff) }),
		config.WithAPIOptions([]func(*middleware.Stack) error{apiOptions}),
		config.WithLogger(sdkLogger{log: log, conn: c.Name}),
	}
	if p := f["profile"]; p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if keys {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(f["accessKeyId"], f["secretAccessKey"], f["sessionToken"])))
	}
	if s.endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(s.endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, steps.Permanent(s.red.ScrubError(fmt.Errorf("aws connection %s: load the AWS configuration: %w", c.Name, err)))
	}
	if s.endpoint == "" {
		s.endpoint = aws.ToString(cfg.BaseEndpoint) // AWS_ENDPOINT_URL, or endpoint_url of the profile
	}
	s.source = describeSources(cfg.Credentials, keys, f["profile"])
	if s.roleARN != "" {
		base := cfg.Copy()
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), s.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = RoleSessionName
			if id := f["externalId"]; id != "" {
				o.ExternalID = aws.String(id)
			}
		}))
		s.source += ", then role " + s.roleARN
	}
	s.cfg = cfg
	return s, nil
}

// sdkLogger hands the SDK's own messages to slog.
type sdkLogger struct {
	log  *slog.Logger
	conn string
}

// Logf implements logging.Logger.
func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	if l.log == nil {
		return
	}
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...), "connection", l.conn)
}

// httpClient bounds what a context alone may not: dialing, TLS and the
// wait for response headers (a peer that accepts and never answers).
func httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = 10 * time.Second
			tr.ResponseHeaderTimeout = 30 * time.Second
		})
}

// newRetryer is the SDK's standard retryer with more attempts, a short
// backoff and no client-side retry quota: within one call, throttling is
// retried until the call's timeout.
func newRetryer(maxBackoff time.Duration) aws.Retryer {
	if maxBackoff <= 0 {
		maxBackoff = DefaultRetryMaxBackoff
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = retryMaxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// describeSources says where a configuration's credentials come from.
func describeSources(p aws.CredentialsProvider, keys bool, profile string) string {
	if keys {
		return "keys of the connection"
	}
	var names []string
	if ps, ok := p.(aws.CredentialProviderSource); ok {
		for _, src := range ps.ProviderSources() {
			if n := sourceNames[src]; n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		names = []string{"the default chain"}
	}
	out := strings.Join(names, ", ")
	if profile != "" {
		out = "profile " + profile + ": " + out
	}
	return out
}

var sourceNames = map[aws.CredentialSource]string{
	aws.CredentialSourceCode:                 "keys given in code",
	aws.CredentialSourceEnvVars:              "environment (AWS_ACCESS_KEY_ID)",
	aws.CredentialSourceEnvVarsSTSWebIDToken: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
	aws.CredentialSourceSTSAssumeRole:        "assumed role",
	aws.CredentialSourceSTSAssumeRoleWebID:   "web identity role",
	aws.CredentialSourceProfile:              "shared credentials file",
	aws.CredentialSourceProfileSourceProfile: "source profile",
	aws.CredentialSourceProfileNamedProvider: "profile credential_source",
	aws.CredentialSourceProfileSTSWebIDToken: "profile web identity",
	aws.CredentialSourceProfileSSO:           "SSO",
	aws.CredentialSourceSSO:                  "SSO",
	aws.CredentialSourceProfileSSOLegacy:     "SSO",
	aws.CredentialSourceSSOLegacy:            "SSO",
	aws.CredentialSourceProfileProcess:       "credential_process",
	aws.CredentialSourceProcess:              "credential_process",
	aws.CredentialSourceHTTP:                 "container credentials endpoint",
	aws.CredentialSourceIMDS:                 "instance role (IMDS)",
	aws.CredentialSourceProfileLogin:         "aws login session",
	aws.CredentialSourceLogin:                "aws login session",
}

// client is a session as one step uses it: its kind, call timeout, logger
// and wait cadence.
type client struct {
	*session
	kind    string
	timeout time.Duration
	log     *slog.Logger
	poll    cadence
	now     func() time.Time
}

// client makes the client of a step of kind on env's connection; it makes
// no network call.
func (k *kinds) client(ctx context.Context, kind string, env steps.Env, callTimeout string) (*client, error) {
	if env.Conn == nil {
		return nil, steps.Permanentf("%s: needs an aws connection", kind)
	}
	s, err := k.sessions.get(ctx, env.Conn, k.opts.RetryMaxBackoff, k.opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &client{session: s, kind: kind, timeout: steps.ParseDuration(callTimeout), log: log,
		poll: cadence{min: k.opts.scale(k.opts.PollMin), max: k.opts.scale(k.opts.PollMax)}, now: k.opts.Now}, nil
}

// call bounds one API call (all its retries) by the call timeout, naming
// the deadline when it fires, and records whether AWS answered (see
// callState).
func (c *client) call(ctx context.Context, service string) (context.Context, *callState, context.CancelFunc) {
	st := &callState{}
	ctx = context.WithValue(ctx, callStateKey{}, st)
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout,
		fmt.Errorf("no answer from %s in %s within the call timeout %s", service, c.region, c.timeout))
	return ctx, st, cancel
}

// account is the connection's account for ARNs in messages: the pinned
// accountId, else the one STS answered if known, else *.
func (c *client) account() string {
	if c.accountID != "" {
		return c.accountID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id != nil {
		return c.id.account
	}
	return "*"
}

// where names the connection and region for messages.
func (c *client) where() string { return fmt.Sprintf("connection %s, %s", c.name, c.region) }
