// Package kubernetes holds the Kubernetes step kinds: node and pod
// readiness, scaling, patches, server-side apply, commands in pods, load
// balancer addresses, and the diagnostics (events, logs, metrics) posted to
// a run's thread.
//
// The kinds are declared (name, config schema, connection, outputs) so that
// runbooks validate; their Check/Apply arrive with the Kubernetes issue:
// until then New is nil and running such a step fails with a clear error.
package kubernetes

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the kubernetes connection type: a kubeconfig file
// (default: $KUBECONFIG, then ~/.kube/config, then in-cluster) and a
// context in it (default: its current context).
var ConnectionType = steps.ConnectionType{
	Name:     "kubernetes",
	Optional: []string{"kubeconfig", "context"},
}

// Kinds returns the Kubernetes step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		{
			Name:       "kubernetes.nodesReady",
			Doc:        "enough nodes are Ready (expect up), or the cluster is gone (expect down)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"ready", "total"},
			NewConfig:  func() steps.Config { return &NodesReadyConfig{} },
		},
		{
			Name:       "kubernetes.podsReady",
			Doc:        "the selected pods are Ready (waits until they are)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"ready", "total"},
			NewConfig:  func() steps.Config { return &PodsReadyConfig{} },
		},
		{
			Name:       "kubernetes.scale",
			Doc:        "set the replicas of Deployments or StatefulSets (by name, selector or all)",
			Connection: ConnectionType.Name,
			NewConfig:  func() steps.Config { return &ScaleConfig{} },
		},
		{
			Name:       "kubernetes.patch",
			Doc:        "patch an object (strategic, merge or JSON patch)",
			Connection: ConnectionType.Name,
			NewConfig:  func() steps.Config { return &PatchConfig{} },
		},
		{
			Name:       "kubernetes.resourcesPresent",
			Doc:        "named objects exist (and have a status phase, e.g. PVCs Bound)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"count"},
			NewConfig:  func() steps.Config { return &ResourcesPresentConfig{} },
		},
		{
			Name:       "kubernetes.serviceAddress",
			Doc:        "a Service's load balancer address (outputs hostname, ip)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"hostname", "ip"},
			NewConfig:  func() steps.Config { return &ServiceAddressConfig{} },
		},
		{
			Name:       "kubernetes.exec",
			Doc:        "run a command in a pod unless its check already holds",
			Connection: ConnectionType.Name,
			Outputs:    []string{"output"},
			NewConfig:  func() steps.Config { return &ExecConfig{} },
		},
		{
			Name:       "kubernetes.execCheck",
			Doc:        "a command in a pod exits 0 with the expected output",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"output"},
			NewConfig:  func() steps.Config { return &ExecCheckConfig{} },
		},
		{
			Name:       "kubernetes.apply",
			Doc:        "server-side apply manifests (optionally waiting for Jobs and workloads)",
			Connection: ConnectionType.Name,
			NewConfig:  func() steps.Config { return &ApplyConfig{} },
		},
		{
			Name:       "kubernetes.events",
			Doc:        "the newest events, posted to the thread (optionally a warning limit)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"warnings"},
			NewConfig:  func() steps.Config { return &EventsConfig{} },
		},
		{
			Name:       "kubernetes.logs",
			Doc:        "the last log lines of pods, posted to the thread (optionally a fail pattern)",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"lines", "matches"},
			NewConfig:  func() steps.Config { return &LogsConfig{} },
		},
		{
			Name:       "kubernetes.podMetrics",
			Doc:        "CPU and memory of pods from the metrics API, within limits",
			ReadOnly:   true,
			Connection: ConnectionType.Name,
			Outputs:    []string{"cpu", "memory"},
			NewConfig:  func() steps.Config { return &PodMetricsConfig{} },
		},
	}
}

// Register adds the kubernetes connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
