package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ServiceAddress is a kubernetes.serviceAddress probe.
type ServiceAddress struct {
	cfg  ServiceAddressConfig
	c    *cluster
	sel  selection
	wait waiter
}

var (
	_ steps.Probe  = (*ServiceAddress)(nil)
	_ steps.Closer = (*ServiceAddress)(nil)
)

func newServiceAddress(_ context.Context, cfg *ServiceAddressConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.serviceAddress", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &ServiceAddress{cfg: *cfg, c: c, wait: waiter{probe: true},
		sel: selection{gvr: gvrServices, namespace: cfg.Namespace, name: cfg.Name}}, nil
}

// Check is done when the Service's load balancer has an address of the
// required kind (the cloud's controller sets it; the step waits on a
// watch until it does). A missing Service, or one that is not of type
// LoadBalancer, is a permanent error. Outputs: hostname and ip of the
// first ingress entry.
func (s *ServiceAddress) Check(ctx context.Context) (steps.Result, error) {
	return s.wait.observe(ctx, s.c, s.sel, func(ctx context.Context) ([]*unstructured.Unstructured, error) {
		return s.c.fetch(ctx, s.sel)
	}, s.evaluate)
}

func (s *ServiceAddress) evaluate(objs []*unstructured.Unstructured) (steps.Result, error) {
	what := fmt.Sprintf("service %s/%s", s.cfg.Namespace, s.cfg.Name)
	if len(objs) == 0 {
		return steps.Result{}, steps.Permanentf("kubernetes.serviceAddress: %s on %s: not found (deleted)", what, s.c.conn)
	}
	svc, err := typed[corev1.Service](objs[0])
	if err != nil {
		return steps.Result{}, err
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return steps.Result{}, steps.Permanentf("kubernetes.serviceAddress: %s on %s is of type %s, not LoadBalancer: it gets no load balancer address",
			what, s.c.conn, svc.Spec.Type)
	}
	out := map[string]string{"hostname": "", "ip": ""}
	if ing := svc.Status.LoadBalancer.Ingress; len(ing) > 0 {
		out["hostname"], out["ip"] = ing[0].Hostname, ing[0].IP
	}
	var got string
	switch s.cfg.Require {
	case AddressHostname:
		got = out["hostname"]
	case AddressIP:
		got = out["ip"]
	default:
		got = out["hostname"]
		if got == "" {
			got = out["ip"]
		}
	}
	if got == "" {
		want := "an address"
		if s.cfg.Require != AddressAny {
			want = "a " + s.cfg.Require
		}
		have := ""
		if out["ip"] != "" || out["hostname"] != "" {
			have = fmt.Sprintf(" (it has %s%s)", out["hostname"], out["ip"])
		}
		return steps.Result{Summary: fmt.Sprintf("%s: waiting for its load balancer to get %s%s", what, want, have), Outputs: out}, nil
	}
	return steps.Result{Done: true, Summary: fmt.Sprintf("%s: load balancer %s", what, got), Outputs: out}, nil
}

// Close stops the probe's watch and releases its connections.
func (s *ServiceAddress) Close() error {
	s.wait.close()
	s.c.close()
	return nil
}
