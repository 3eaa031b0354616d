package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

const (
	east = awstest.PrimaryRegion
	west = awstest.DRRegion
)

// testScale turns the fake's real-world delays into milliseconds: a 90 s
// promotion takes 90 ms, a 30 s Route 53 change 30 ms.
const testScale = 0.001

// testOptions poll at a cadence as scaled as the delays.
var testOptions = Options{PollMin: 5 * time.Millisecond, PollMax: 20 * time.Millisecond, RetryMaxBackoff: 20 * time.Millisecond}

// register is Register with testOptions, for stepstest.Build.
func register(r *steps.Registry) error { return testOptions.Register(r) }

// lab is a seeded local AWS for one test.
type lab struct {
	*awstest.Server
	maip  awstest.MAIP
	mimir awstest.Mimir
}

// newLab starts the fake with the MAIP and Mimir seeds.
func newLab(t testing.TB, opts awstest.Options) *lab {
	t.Helper()
	if opts.TimeScale == 0 {
		opts.TimeScale = testScale
	}
	s, err := awstest.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start the local AWS: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the local AWS: %v", err)
		}
	})
	m, err := awstest.SeedMAIP(s)
	if err != nil {
		t.Fatal(err)
	}
	mi, err := awstest.SeedMimir(s)
	if err != nil {
		t.Fatal(err)
	}
	return &lab{Server: s, maip: m, mimir: mi}
}

// conn is an aws connection to the fake in region with its credentials.
func (l *lab) conn(region string) *steps.Connection {
	c := l.Credentials()
	return &steps.Connection{Name: region + "_aws", Type: "aws", Fields: map[string]string{
		"region": region, "endpoint": l.URL(), "accessKeyId": c.AccessKeyID, "secretAccessKey": c.SecretAccessKey,
	}}
}

// secret is the connection's secret access key (for leak checks).
func (l *lab) secret() string { return l.Credentials().SecretAccessKey }

// blackholeConn is a connection whose endpoint accepts and never answers.
func blackholeConn(t testing.TB, l *lab, region string) *steps.Connection {
	c := l.conn(region)
	c.Fields["endpoint"] = "http://" + stepstest.BlackholeAddr(t)
	return c
}

// check runs one Check with a deadline.
func check(t testing.TB, p steps.Probe) (steps.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Check(ctx)
}

// apply runs one Apply with a deadline.
func apply(t testing.TB, s steps.Step) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Apply(ctx)
}

// wantPermanent fails unless err is permanent and mentions every part.
func wantPermanent(t testing.TB, err error, parts ...string) {
	t.Helper()
	if !steps.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// wantTransient fails unless err is a transient error mentioning parts.
func wantTransient(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil || steps.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// within runs f and fails if it takes longer than d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > d {
		t.Errorf("%s took %s, want at most %s", what, took.Round(time.Millisecond), d)
	}
}

func ptr[T any](v T) *T { return &v }
