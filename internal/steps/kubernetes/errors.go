package kubernetes

import (
	"context"
	"fmt"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// call names one API request in messages: "patch deployments.apps mimir/mimir-api".
type call struct{ verb, resource, namespace, name string }

func (o call) String() string {
	s := o.verb + " " + o.resource
	switch {
	case o.namespace != "" && o.name != "":
		s += " " + o.namespace + "/" + o.name
	case o.name != "":
		s += " " + o.name
	case o.namespace != "":
		s += " in namespace " + o.namespace
	}
	return s
}

// scope is "in namespace x" or "cluster-wide", for RBAC messages.
func (o call) scope() string {
	if o.namespace == "" {
		return "cluster-wide"
	}
	return "in namespace " + o.namespace
}

// wrap classifies the error of one request where it was made, says what
// was being done on which connection, names the deadline that fired, and
// scrubs secrets. ctx is the request's context.
//
// Permanent (the run pauses): forbidden (naming the identity, the verb and
// the resource), refused credentials, a missing object, an unknown
// resource, an invalid or unsupported request. Transient (retried until
// the step's deadline): an API server that is unreachable, refuses
// connections or does not answer in time, a conflict (the object changed
// between read and write), throttling and server errors.
func (c *cluster) wrap(ctx context.Context, err error, o call) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("%s: %s on %s", c.kind, o, c.conn)
	var out error
	switch {
	case ctx.Err() != nil:
		out = fmt.Errorf("%s: %w", what, context.Cause(ctx))
	case apierrors.IsForbidden(err):
		out = steps.Permanent(fmt.Errorf("%s: forbidden: %s may not %s %s %s (grant it with RBAC): %w",
			what, c.whoami(ctx), o.verb, o.resource, o.scope(), err))
	case apierrors.IsUnauthorized(err):
		out = steps.Permanent(fmt.Errorf("%s: the API server refused the credentials of connection %s: %w", what, c.conn, err))
	case apierrors.IsNotFound(err):
		out = steps.Permanent(fmt.Errorf("%s: not found: %w", what, err))
	case apierrors.IsConflict(err):
		out = fmt.Errorf("%s: conflict (the object changed meanwhile; retried): %w", what, err)
	case meta.IsNoMatchError(err):
		out = steps.Permanent(fmt.Errorf("%s: the cluster serves no such resource: %w", what, err))
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err),
		apierrors.IsUnsupportedMediaType(err), apierrors.IsNotAcceptable(err), apierrors.IsAlreadyExists(err),
		apierrors.IsRequestEntityTooLargeError(err):
		out = steps.Permanent(fmt.Errorf("%s: refused: %w", what, err))
	default:
		out = fmt.Errorf("%s: %w", what, err)
	}
	return c.red.ScrubError(out)
}

// whoami names the identity the connection acts as (a SelfSubjectReview,
// which every authenticated user may make), for forbidden errors; "the
// connection's user" when the API server will not say.
func (c *cluster) whoami(ctx context.Context) string {
	c.mu.Lock()
	who := c.identity
	c.mu.Unlock()
	if who != "" {
		return who
	}
	cs, err := c.clientset()
	if err != nil {
		return "the connection's user"
	}
	cctx, cancel := c.call(context.WithoutCancel(ctx))
	defer cancel()
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(cctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || r.Status.UserInfo.Username == "" {
		return "the connection's user"
	}
	c.mu.Lock()
	c.identity = r.Status.UserInfo.Username
	c.mu.Unlock()
	return r.Status.UserInfo.Username
}
