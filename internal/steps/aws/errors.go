package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// callState records, across the attempts of one API call, whether a
// request went out and whether AWS answered any of them: a call that sent
// requests and got no answer at all is a region that does not answer
// (what the probes of a failed region look for), unlike a call that never
// left (no credentials) or one that was answered with errors.
type callState struct {
	mu       sync.Mutex
	sent     bool
	answered bool
	lastCode string // the last AWS error code answered, if any
}

type callStateKey struct{}

func (st *callState) unanswered() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sent && !st.answered
}

func (st *callState) code() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lastCode
}

// apiOptions add the middleware that fills the callState of each attempt
// (the Deserialize step runs once per attempt, after signing).
func apiOptions(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("failoverbotCallState",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			st, _ := ctx.Value(callStateKey{}).(*callState)
			if st != nil {
				st.mu.Lock()
				st.sent = true
				st.mu.Unlock()
			}
			out, md, err := next.HandleDeserialize(ctx, in)
			if st != nil {
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil && resp.Response != nil && resp.StatusCode > 0 {
					st.mu.Lock()
					st.answered = true
					var ae smithy.APIError
					if errors.As(err, &ae) {
						st.lastCode = ae.ErrorCode()
					}
					st.mu.Unlock()
				}
			}
			return out, md, err
		}), middleware.Before)
}

// Error codes by what retrying can do about them.
var (
	accessDeniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true, "ForbiddenException": true,
		"UnauthorizedException": true, "AuthorizationError": true,
	}
	badCredentialCodes = map[string]bool{
		"UnrecognizedClientException": true, "InvalidClientTokenId": true, "InvalidAccessKeyId": true, "AuthFailure": true,
		"SignatureDoesNotMatch": true, "ExpiredToken": true, "ExpiredTokenException": true, "InvalidToken": true,
		"MissingAuthenticationToken": true, "MissingAuthenticationTokenException": true, "IncompleteSignature": true,
	}
	throttleCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestLimitExceeded": true,
		"TooManyRequestsException": true, "SlowDown": true, "PriorRequestNotComplete": true, "RequestThrottled": true,
		"RequestThrottledException": true, "ProvisionedThroughputExceededException": true,
	}
	// Conflicts that end by themselves: another change in progress.
	transientCodes = map[string]bool{
		"ResourceInUseException": true, "HealthCheckVersionMismatch": true, "ConcurrentModification": true,
		"ServiceUnavailable": true, "InternalFailure": true, "InternalError": true,
		"RequestTimeout": true, "RequestTimeoutException": true,
	}
)

// fail wraps the error of an API call: what was being done, the
// connection, which deadline fired, secrets scrubbed; and marks what
// retrying cannot fix as permanent. action is the IAM action
// (rds:PromoteReadReplica) and resource the ARN or name acted on, for
// access-denied messages.
func (c *client) fail(ctx context.Context, st *callState, err error, action, resource, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	msg, permanent := c.explain(ctx, st, err, action, resource)
	return c.mark(permanent, fmt.Errorf("%s: %s (%s): %s: %w", c.kind, what, c.where(), msg, accessDenied(err, action, resource)))
}

// mark scrubs err and makes it permanent if asked.
func (c *client) mark(permanent bool, err error) error {
	err = c.red.ScrubError(err)
	if permanent {
		return steps.Permanent(err)
	}
	return err
}

// explain says in a few words what went wrong and whether it is permanent.
func (c *client) explain(ctx context.Context, st *callState, err error, action, resource string) (string, bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case accessDeniedCodes[code]:
			return fmt.Sprintf("access denied: %s on %s is not allowed for this identity", action, resource), true
		case badCredentialCodes[code]:
			return fmt.Sprintf("the credentials were refused (%s; from %s)", code, c.source), true
		case throttleCodes[code]:
			return fmt.Sprintf("throttled by AWS (%s) until the call timeout %s; retried", code, c.timeout), false
		case transientCodes[code]:
			return fmt.Sprintf("%s, a passing condition; retried", code), false
		}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			return fmt.Sprintf("AWS answered %d %s; retried", re.HTTPStatusCode(), code), false
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return fmt.Sprintf("AWS failed (%s); retried", code), false
		}
		return fmt.Sprintf("refused (%s)", code), true
	}
	last := ""
	if st != nil {
		last = st.code()
	}
	switch {
	case throttleCodes[last]:
		return fmt.Sprintf("throttled by AWS (%s) until the call timeout %s; retried", last, c.timeout), false
	case last != "" && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return fmt.Sprintf("AWS kept failing (%s) until the call timeout %s; retried", last, c.timeout), false
	case ctx.Err() != nil:
		return "the step's deadline passed", false
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return "no answer within the call timeout " + c.timeout.String(), false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "the endpoint is unreachable", false
	}
	return "the call failed", false
}

// unreachable reports whether a failed call shows the region's API not
// answering: requests went out and no answer came back before the call
// timeout (or the connection failed), while the step's own deadline (ctx)
// had not passed.
func unreachable(ctx context.Context, st *callState, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	return st.unanswered()
}

// serverFailure reports whether the region answered, but only with 5xx
// errors (a region in trouble).
func serverFailure(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
}

// apiCode is the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
