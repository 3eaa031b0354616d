// Package kubernetes holds the Kubernetes step kinds: node and pod
// readiness, scaling, patches, server-side apply, commands in pods, load
// balancer addresses, and the diagnostics (events, logs, metrics) posted to
// a run's thread.
//
// A connection is a kubeconfig file and context (or the bot's in-cluster
// configuration); every request runs under the step's requestTimeout.
// Kinds that wait (scale, rolloutRestart, apply, podsReady, nodesReady,
// serviceAddress, resourcesPresent) follow a watch once they wait (see
// watch.go); errors are classified where the request is made (errors.go).
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
	Check:    checkConnection,
}

// Kinds returns the Kubernetes step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.ProbeKind(spec("kubernetes.nodesReady", "enough nodes are Ready (expect up), or the cluster is gone (expect down)", "ready", "total"), newNodesReady),
		steps.ProbeKind(spec("kubernetes.podsReady", "the selected pods are Ready (waits until they are)", "ready", "total"), newPodsReady),
		steps.StepKind(spec("kubernetes.scale", "set the replicas of Deployments or StatefulSets (by name, selector or all) and wait for the rollout", "previous", "workloads"), newScale),
		steps.StepKind(spec("kubernetes.patch", "patch an object (strategic, merge or JSON patch); done when the live object holds it"), newPatch),
		steps.StepKind(spec("kubernetes.rolloutRestart", "restart the pods of Deployments or StatefulSets (kubectl rollout restart) and wait for the rollout", "restartedAt", "workloads"), newRolloutRestart),
		steps.ProbeKind(spec("kubernetes.resourcesPresent", "named objects of any kind exist, with a status phase (PVCs Bound) and field expectations", "count"), newResourcesPresent),
		steps.ProbeKind(spec("kubernetes.serviceAddress", "a Service's load balancer address (outputs hostname, ip); waits until assigned", "hostname", "ip"), newServiceAddress),
		steps.StepKind(spec("kubernetes.exec", "run a command in a pod unless its check already holds", "output"), newExec),
		steps.ProbeKind(spec("kubernetes.execCheck", "a command in a pod exits 0 with the expected output", "output"), newExecCheck),
		steps.StepKind(spec("kubernetes.apply", "server-side apply manifests (optionally waiting for Jobs and workloads)"), newApply),
		steps.ProbeKind(spec("kubernetes.events", "the newest events, posted to the thread (optionally a warning limit)", "warnings"), newEvents),
		steps.ProbeKind(spec("kubernetes.logs", "the last log lines of pods, posted to the thread (optionally a fail pattern)", "lines", "matches"), newLogs),
		steps.ProbeKind(spec("kubernetes.podMetrics", "CPU and memory of pods from the metrics API, within limits", "cpu", "memory"), newPodMetrics),
	}
}

// spec is the Spec of a kind on a kubernetes connection.
func spec(name, doc string, outputs ...string) steps.Spec {
	return steps.Spec{Name: name, Doc: doc, Connection: ConnectionType.Name, Outputs: outputs}
}

// Register adds the kubernetes connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
