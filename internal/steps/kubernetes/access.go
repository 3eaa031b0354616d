package kubernetes

import (
	"context"
	"fmt"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Denied is a rule's request the connection's identity may not make.
type Denied struct {
	Verb, Group, Resource, Namespace, Name string
}

// String is "patch deployments.apps mimir-api in namespace mimir".
func (d Denied) String() string {
	r := d.Resource
	if d.Group != "" {
		res, sub, ok := strings.Cut(r, "/")
		r = res + "." + d.Group
		if ok {
			r += "/" + sub
		}
	}
	if d.Name != "" {
		r += " " + d.Name
	}
	where := "cluster-wide"
	if d.Namespace != "" {
		where = "in namespace " + d.Namespace
	}
	return fmt.Sprintf("%s %s %s", d.Verb, r, where)
}

// ReviewAccess asks the API server of conn (expanded), with one
// SelfSubjectAccessReview per verb and object name of each rule, whether
// the connection's identity may make the rules' requests, and returns
// those it may not. Each review runs under timeout; an API server that
// does not answer is an error (the caller decides what that means: for a
// failed primary, nothing).
func ReviewAccess(ctx context.Context, conn *steps.Connection, rules []steps.KubeRule) ([]Denied, error) {
	c, err := newCluster("access review", steps.Env{Conn: conn}, DefaultRequestTimeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	cs, err := c.clientset()
	if err != nil {
		return nil, err
	}
	var denied []Denied
	for _, r := range rules {
		names := r.Names
		if len(names) == 0 {
			names = []string{""}
		}
		res, sub, _ := strings.Cut(r.Resource, "/")
		for _, v := range r.Verbs {
			for _, n := range names {
				cctx, cancel := c.call(ctx)
				out, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(cctx, &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authzv1.ResourceAttributes{Verb: v, Group: r.Group, Resource: res, Subresource: sub, Namespace: r.Namespace, Name: n}}}, metav1.CreateOptions{})
				cancel()
				if err != nil {
					return nil, c.wrap(cctx, err, call{verb: "create", resource: "selfsubjectaccessreviews.authorization.k8s.io"})
				}
				if !out.Status.Allowed {
					denied = append(denied, Denied{Verb: v, Group: r.Group, Resource: r.Resource, Namespace: r.Namespace, Name: n})
				}
			}
		}
	}
	return denied, nil
}
