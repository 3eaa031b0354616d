package kubernetes

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// The retry matrix: what each answer of the API server (or its absence)
// means for the run.
func TestErrorClassification(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	c := &cluster{kind: "kubernetes.scale", conn: "dr_cluster", cfg: &rest.Config{Host: "https://dr:6443"}, timeout: time.Second,
		red: &secret.Redactor{}, identity: "system:serviceaccount:mimir:bot"}
	op := call{verb: "patch", resource: "deployments.apps", namespace: "mimir", name: "api"}
	refused := &url.Error{Op: "Get", URL: "https://dr:6443", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, tt := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"forbidden", apierrors.NewForbidden(gr, "api", errors.New("RBAC")), true},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), true},
		{"not found", apierrors.NewNotFound(gr, "api"), true},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "api", nil), true},
		{"bad request", apierrors.NewBadRequest("no"), true},
		{"unsupported media type (strategic patch of a CRD)", apierrors.NewGenericServerResponse(415, "patch", gr, "api", "", 0, false), true},
		{"no such resource", &meta.NoResourceMatchError{PartialResource: gr.WithVersion("")}, true},
		{"conflict", apierrors.NewConflict(gr, "api", errors.New("changed")), false},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), false},
		{"server error", apierrors.NewInternalError(errors.New("etcd")), false},
		{"unavailable", apierrors.NewServiceUnavailable("starting"), false},
		{"server timeout", apierrors.NewServerTimeout(gr, "patch", 1), false},
		{"refused", refused, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := c.wrap(context.Background(), tt.err, op)
			if steps.IsPermanent(err) != tt.permanent {
				t.Errorf("%v: permanent %v, want %v", err, steps.IsPermanent(err), tt.permanent)
			}
		})
	}
	forbidden := c.wrap(context.Background(), apierrors.NewForbidden(gr, "api", errors.New("RBAC")), op)
	if want := "kubernetes.scale: patch deployments.apps mimir/api on dr_cluster: forbidden: system:serviceaccount:mimir:bot may not patch deployments.apps in namespace mimir (grant it with RBAC): "; forbidden == nil || forbidden.Error()[:len(want)] != want {
		t.Errorf("forbidden: %v", forbidden)
	}
	// The deadline that fired is named.
	ctx, cancel := c.call(context.Background())
	defer cancel()
	<-ctx.Done()
	if err := c.wrap(ctx, context.DeadlineExceeded, op); steps.IsPermanent(err) ||
		err.Error() != "kubernetes.scale: patch deployments.apps mimir/api on dr_cluster: no answer from the API server of dr_cluster (https://dr:6443) within 1s" {
		t.Errorf("deadline: %v", err)
	}
}

// The connection's Check finds a kubeconfig or a context that does not
// exist without any request; a good one passes.
func TestConnectionCheckWithoutNetwork(t *testing.T) {
	// A server that counts the connections made to it: the Check makes none.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	good := writeKubeconfig(t, "https://"+l.Addr().String(), "tok-3d9a")
	for _, tt := range []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"kubeconfig": good}, ""},
		{map[string]string{"kubeconfig": good, "context": "test"}, ""},
		{map[string]string{"kubeconfig": good, "context": "lab-dr"}, `kubernetes connection dr_cluster: context "lab-dr" does not exist`},
		{map[string]string{"kubeconfig": "/nonexistent/kubeconfig"}, "kubernetes connection dr_cluster: stat /nonexistent/kubeconfig: no such file or directory"},
	} {
		err := ConnectionType.Check(context.Background(), &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: tt.fields})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.fields, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !steps.IsPermanent(err)):
			t.Errorf("%v: %v, want %q", tt.fields, err, tt.want)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("the Check connected %d times to the API server", n)
	}
}
