package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusRateLimited is the status Statuspage answered when a token went over
// its rate limit before it moved to 429 (both are still seen; both are
// handled the same).
const StatusRateLimited = 420

// ErrRetryAfterPending is wrapped by the Error of a call that was not sent
// because the API's last Retry-After has not run out and the caller's
// deadline comes first.
var ErrRetryAfterPending = errors.New("the API's Retry-After has not run out before this call's deadline")

// Error is what every failed call returns. errors.As it to decide: a
// notifier's retry loop retries when Retryable() says so, not before
// RetryAfter.
//
// Retry decisions (Retryable):
//
//	no answer (connection refused or reset, timeout)   retry
//	call not sent, Retry-After pending                 retry, after RetryAfter
//	420, 429 (rate limited)                            retry, after RetryAfter (1s when absent, 2m at most)
//	500–599                                            retry (after RetryAfter when given)
//	other 4xx (400, 401, 403, 404, 409, 422…)          do not retry
//	2xx with an answer that does not decode            do not retry (the change may have been made)
//	bad input refused before sending                   do not retry
type Error struct {
	// Op is what was being done ("create incident").
	Op string
	// StatusCode is the HTTP status of the answer; 0 when there was none.
	StatusCode int
	// Message is the API's error text (secrets removed), or what went wrong.
	Message string
	// RetryAfter is how long the API asked to wait (Retry-After), or what
	// is left of it for a call not sent; 0 when it gave none.
	RetryAfter time.Duration
	// Err is the underlying error (transport, decoding, context), if any.
	Err error

	retry bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("statuspage: ")
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Retryable says whether the same call may succeed later (see the table on
// Error).
func (e *Error) Retryable() bool { return e.retry }

// RetryableStatus says whether an answer with this HTTP status is worth
// retrying: 420, 429 and 5xx are; every other 4xx is not.
func RetryableStatus(code int) bool {
	return code == StatusRateLimited || code == http.StatusTooManyRequests || (code >= 500 && code <= 599)
}

// Retryable classifies any error a Client returned: the Error's decision,
// and false for an error that is not one (none is expected).
func Retryable(err error) (retry bool, after time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable(), e.RetryAfter
	}
	return false, 0
}

// MaxRetryAfter caps the Retry-After the client honours: a broken header
// must not silence the status page for hours (the API asks for 60s at most).
const MaxRetryAfter = 2 * time.Minute

// parseRetryAfter reads a Retry-After header (delay-seconds or an HTTP
// date), capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	return min(parseRetryAfterHeader(v, now), MaxRetryAfter)
}

func parseRetryAfterHeader(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxMessage bounds the error text kept from an answer's body.
const maxMessage = 300

// errorMessage extracts the error text of an answer: {"error":"…"},
// {"error":["…",…]}, {"message":"…"}, else the body itself (shortened).
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		var s string
		var list []string
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s
		case json.Unmarshal(v.Error, &list) == nil && len(list) > 0:
			msg = strings.Join(list, "; ")
		case v.Message != "":
			msg = v.Message
		}
	}
	if msg == "" {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	if r := []rune(msg); len(r) > maxMessage {
		msg = string(r[:maxMessage]) + "…"
	}
	return msg
}
