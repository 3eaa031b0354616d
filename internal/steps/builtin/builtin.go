// Package builtin wires every step package of the bot into one registry,
// explicitly, one line per package (no init side effects). A name
// collision between packages is a start-up error.
package builtin

import (
	"errors"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws"
	"github.com/failoverbot/failoverbot/internal/steps/gate"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
	"github.com/failoverbot/failoverbot/internal/steps/kubernetes"
	"github.com/failoverbot/failoverbot/internal/steps/postgres"
	"github.com/failoverbot/failoverbot/internal/steps/redis"
)

// Registry returns a registry holding every step kind and connection type
// the bot knows. Errors of all packages are reported together.
func Registry() (*steps.Registry, error) { return Options{}.Registry() }

// Options tune kinds for an environment; the zero value is production's.
type Options struct {
	// AWS tunes the AWS kinds (the lab scales their waits as it scales its
	// local AWS's delays: TimeScale).
	AWS aws.Options
	// HTTP tunes http.check (the lab's edge proxy and CA).
	HTTP httpcheck.Options
}

// Registry is Registry with the kinds made with o.
func (o Options) Registry() (*steps.Registry, error) {
	r := steps.NewRegistry()
	err := errors.Join(
		wrap("postgres", postgres.Register(r)),
		wrap("redis", redis.Register(r)),
		wrap("httpcheck", o.HTTP.Register(r)),
		wrap("kubernetes", kubernetes.Register(r)),
		wrap("aws", o.AWS.Register(r)),
		wrap("gate", gate.Register(r)),
	)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// packageError says which steps package failed to register.
type packageError struct {
	pkg string
	err error
}

func (e *packageError) Error() string { return "steps/" + e.pkg + ": " + e.err.Error() }
func (e *packageError) Unwrap() error { return e.err }

func wrap(pkg string, err error) error {
	if err == nil {
		return nil
	}
	return &packageError{pkg: pkg, err: err}
}
