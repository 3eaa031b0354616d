// Package httpcheck holds the http.check step kind: an HTTP probe that
// expects an endpoint up or down, one attempt per Check, each with its own
// deadline. (The package is not named http so that it does not shadow
// net/http, which it uses.)
package httpcheck

import (
	"crypto/x509"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpproxy"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Options tune the kind for a network; the zero value is the process's
// own: the proxy of the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY,
// read when a step is built, as curl does; loopback is never proxied) and
// the system's certificate roots.
type Options struct {
	// Proxy, if set, replaces the environment's proxy (the lab's edge,
	// which routes names as its Route 53 records say).
	Proxy func(*http.Request) (*url.URL, error)
	// RootCAs, if set, replaces the system roots (the lab's CA).
	RootCAs *x509.CertPool
}

// proxy is o.Proxy, or the environment's proxy as it is now.
func (o Options) proxy() func(*http.Request) (*url.URL, error) {
	if o.Proxy != nil {
		return o.Proxy
	}
	f := httpproxy.FromEnvironment().ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

// Kinds returns the HTTP step kinds.
func Kinds() []steps.Kind { return Options{}.Kinds() }

// Kinds returns the HTTP step kinds made with o.
func (o Options) Kinds() []steps.Kind {
	return []steps.Kind{
		steps.ProbeKind(steps.Spec{Name: "http.check", Doc: "HTTP endpoint is up (status, body) or down (refused, hung, wrong answer)",
			Outputs: []string{"status", "state"}}, o.buildCheck),
	}
}

// Register adds the http kinds to r (they need no connection).
func Register(r *steps.Registry) error { return Options{}.Register(r) }

// Register adds the http kinds made with o to r.
func (o Options) Register(r *steps.Registry) error {
	return r.Register(o.Kinds()...)
}
