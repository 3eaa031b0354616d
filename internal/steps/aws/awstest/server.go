// Package awstest is a local AWS for tests: one HTTP server that speaks the
// real wire protocols of the operations the bot's AWS step kinds use, so
// they are tested with the real aws-sdk-go-v2 clients pointed at it through
// BaseEndpoint.
//
//   - RDS (awsQuery): DescribeDBInstances, PromoteReadReplica,
//     CreateDBInstanceReadReplica.
//   - EC2 (ec2Query): DescribeRegions.
//   - Route 53 (restXml, global): ListHostedZonesByName, GetHostedZone,
//     ListResourceRecordSets, ChangeResourceRecordSets, GetChange,
//     GetHealthCheck, GetHealthCheckStatus, UpdateHealthCheck.
//   - EKS (restJson1): DescribeNodegroup, UpdateNodegroupConfig, DescribeUpdate.
//   - MSK (restJson1): ListReplicators, DescribeReplicator.
//   - DynamoDB (awsJson1_0): DescribeTable.
//   - CloudWatch (rpcv2Cbor, AWS-query compatible): GetMetricData,
//     GetMetricStatistics, DescribeAlarms.
//   - S3 (restXml, path style, served by gofakes3): ListObjectsV2 and the
//     rest of gofakes3's S3.
//   - STS (awsQuery, global): GetCallerIdentity, AssumeRole.
//
// The region of a call is the one in its SigV4 credential scope; state is
// kept per region (Route 53 and STS are global). Calls must carry a SigV4
// Authorization header with a registered access key (the signature itself
// is not verified). Resources move through their real intermediate states
// over time (Delays, TimeScale), faults can be injected per operation and
// region (Inject), and every call and state change is recorded (Calls,
// Transitions) for benchmarks.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// DefaultAccountID is the account of a server whose Options name none.
const DefaultAccountID = "123456789012"

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr to listen on (default 127.0.0.1:0, a free loopback port).
	Addr string
	// AccountID of every resource and caller (default DefaultAccountID).
	AccountID string
	// Credentials accepted by the server. With none, one is generated
	// (Server.Credentials returns it).
	Credentials []Credential
	// Delays of the state transitions (zero fields take the defaults).
	Delays Delays
	// TimeScale multiplies every delay (default 1): 0.001 turns a minute
	// into 60ms.
	TimeScale float64
	// Now is the clock of the state machines (default time.Now). Tests that
	// step through states deterministically pass a manual clock.
	Now func() time.Time
	// Logger receives one debug record per call (default: discard).
	Logger *slog.Logger
	// CallLogLimit bounds the call log (default 100000 calls; the oldest
	// are dropped, the per-operation counts are kept whole).
	CallLogLimit int
	// MaxBodyBytes bounds a request body (default 8 MiB).
	MaxBodyBytes int64
}

// Credential is an access key the server accepts, and the IAM user it
// stands for.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// UserName names the caller: arn:aws:iam::ACCOUNT:user/UserName
	// (default "test").
	UserName string
}

// Server is the fake AWS. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	srv    *http.Server
	ln     net.Listener
	url    string
	closed chan struct{}
	once   sync.Once
	done   chan struct{}
	err    error
	serve  chan error

	mu      sync.Mutex
	creds   map[string]principal // access key → caller
	regions map[string]*regionState
	global  *globalState
	faults  []*faultRule
	obs     observations
	seq     uint64

	s3      http.Handler
	s3data  *s3Store
	handler http.Handler
}

// Start listens on opts.Addr and serves until Close, or until ctx ends.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("awstest: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.serve = make(chan error, 1)
	go func() { s.serve <- s.srv.Serve(ln) }()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.closed:
		}
	}()
	return s, nil
}

func newServer(opts Options) (*Server, error) {
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if len(opts.AccountID) != 12 {
		return nil, fmt.Errorf("awstest: AccountID must be 12 digits, got %q", opts.AccountID)
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("awstest: TimeScale must not be negative, got %v", opts.TimeScale)
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	opts.Delays = opts.Delays.withDefaults()
	if opts.CallLogLimit <= 0 {
		opts.CallLogLimit = 100000
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	s := &Server{
		opts:    opts,
		now:     opts.Now,
		log:     opts.Logger,
		closed:  make(chan struct{}),
		done:    make(chan struct{}),
		creds:   map[string]principal{},
		regions: map[string]*regionState{},
		global:  newGlobalState(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(opts.Credentials) == 0 {
		opts.Credentials = []Credential{{AccessKeyID: "AKIA" + randomUpper(16), SecretAccessKey: randomHex(20), UserName: "test"}}
		s.opts.Credentials = opts.Credentials
	}
	for _, c := range opts.Credentials {
		if err := s.AddCredential(c); err != nil {
			return nil, err
		}
	}
	s.obs.init(opts.CallLogLimit)
	s.initS3()
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s, nil
}

// URL is the base endpoint of every service, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// AccountID is the account of every resource and caller.
func (s *Server) AccountID() string { return s.opts.AccountID }

// Credentials returns the first registered credential.
func (s *Server) Credentials() aws.Credentials {
	c := s.opts.Credentials[0]
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Source: "awstest"}
}

// AWSConfig is a client configuration for region that reaches this server
// with the first credential. S3 clients also need UsePathStyle.
func (s *Server) AWSConfig(region string) aws.Config {
	c := s.Credentials()
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(s.url),
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")),
	}
}

// Env is the environment that points an SDK client (and the AWS CLI) at
// this server for region with the first credential: AWS_ENDPOINT_URL,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION. S3 clients still
// need path-style addressing set in code.
func (s *Server) Env(region string) map[string]string {
	c := s.Credentials()
	return map[string]string{
		"AWS_ENDPOINT_URL":      s.url,
		"AWS_ACCESS_KEY_ID":     c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"AWS_REGION":            region,
	}
}

// AddCredential registers another access key.
func (s *Server) AddCredential(c Credential) error {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return errors.New("awstest: a credential needs AccessKeyID and SecretAccessKey")
	}
	if c.UserName == "" {
		c.UserName = "test"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[c.AccessKeyID] = principal{
		arn:    fmt.Sprintf("arn:aws:iam::%s:user/%s", s.opts.AccountID, c.UserName),
		userID: "AIDA" + randomUpper(17),
	}
	return nil
}

// Close stops the server: calls held by a hang fault end at once, calls in
// flight get 5 seconds to finish. It returns when the server has stopped.
func (s *Server) Close() error {
	s.once.Do(func() {
		defer close(s.done)
		close(s.closed)
		if s.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.err = errors.Join(err, s.srv.Close())
		}
		if err := <-s.serve; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = errors.Join(s.err, err)
		}
	})
	<-s.done
	return s.err
}

// region returns the state of a region, creating it on first use. Callers
// hold s.mu.
func (s *Server) region(name string) *regionState {
	r := s.regions[name]
	if r == nil {
		r = newRegionState(name)
		s.regions[name] = r
	}
	r.pruneDeleted(s.now())
	return r
}

// nextID returns a counter for identifiers. Callers hold s.mu.
func (s *Server) nextID() uint64 {
	s.seq++
	return s.seq
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomUpper(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = upperAlnum[int(b[i])%len(upperAlnum)]
	}
	return string(b)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
