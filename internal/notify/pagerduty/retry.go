// Package pagerduty is where the PagerDuty notifier goes. For now it holds
// how errors of github.com/PagerDuty/go-pagerduty (v1.8.0) are classified
// for the notification pipeline's retry loop; pagerdutyfake is the
// PagerDuty its tests run against.
//
// How go-pagerduty reports failures (checked by pagerdutyfake's tests):
//
//   - Any non-2xx answer of the REST API or of the Events API through the
//     Client method ManageEventWithContext is a pagerduty.APIError value
//     (errors.As with a pagerduty.APIError, not a pointer) carrying
//     StatusCode. For the REST API its error object is Valid and holds
//     PagerDuty's code and message (2016: From header missing; 2002 with
//     "Incident Already Resolved": a resolve that has already taken effect;
//     2001 with "Open incident with matching dedup key already exists on
//     this service": a create that has already taken effect). For the
//     Events API it is not Valid: the Events body has no "error" key, so
//     the reason is lost; only the status is known.
//   - pagerduty.EventsAPIV2Error comes only from the package-level
//     ManageEventWithContext, which is hard-wired to PagerDuty's host: not
//     used here.
//   - A transport failure (refused, reset, timeout, the context's deadline)
//     is formatted with %v ("error calling the API endpoint: …"): it wraps
//     nothing, not even context.DeadlineExceeded. Check ctx.Err() to know a
//     deadline fired.
//   - A 2xx whose body does not decode returns the encoding/json error as
//     is.
//   - go-pagerduty exposes no response headers: a 429 carries no Retry-After
//     for the caller (the REST limit is per account and resets each minute).
package pagerduty

import (
	"encoding/json"
	"errors"
	"net/http"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Retryable says whether a go-pagerduty call that returned err may succeed
// if made again:
//
//	pagerduty.APIError 429                        retry (back off: no Retry-After is exposed)
//	pagerduty.APIError 408 (Events API timeout)   retry
//	pagerduty.APIError 500–599                    retry
//	pagerduty.APIError other 4xx                  do not retry (400 bad input or no From, 401, 403, 404…)
//	pagerduty.EventsAPIV2Error                    the same table
//	*json.SyntaxError, *json.UnmarshalTypeError   do not retry: a 2xx answer that did not decode, the change may be made
//	any other error                               retry: a transport failure, which go-pagerduty does not type
//
// The retry loop checks its own context before trying again.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var api pd.APIError
	if errors.As(err, &api) {
		return retryableStatus(api.StatusCode)
	}
	var ev pd.EventsAPIV2Error
	if errors.As(err, &ev) {
		return retryableStatus(ev.StatusCode)
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return false
	}
	return true
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || (code >= 500 && code <= 599)
}
