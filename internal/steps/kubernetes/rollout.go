package kubernetes

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// rollout is what a workload's own status says of its rollout.
type rollout struct {
	done bool
	// state is one short clause for summaries: "3 of 3 updated, ready and
	// available", "waiting: 1 of 3 updated replicas are available".
	state string
}

// rolloutOf applies kubectl's rollout-complete rule
// (kubectl/pkg/polymorphichelpers/rollout_status.go) to a Deployment or
// StatefulSet, and adds what a scale needs on top of it: the ready
// replicas reach spec.replicas and no replica beyond it remains (after a
// scale-down, status.replicas comes down to spec.replicas, and no pod is
// still terminating). A Deployment past its progress deadline is a
// permanent error: waiting longer will not finish it.
func rolloutOf(u *unstructured.Unstructured) (rollout, error) {
	switch u.GetKind() {
	case "Deployment":
		d, err := typed[appsv1.Deployment](u)
		if err != nil {
			return rollout{}, err
		}
		return deploymentRollout(d)
	case "StatefulSet":
		s, err := typed[appsv1.StatefulSet](u)
		if err != nil {
			return rollout{}, err
		}
		return statefulSetRollout(s), nil
	}
	return rollout{}, steps.Permanentf("%s %s has no rollout", u.GetKind(), ref(u))
}

func deploymentRollout(d *appsv1.Deployment) (rollout, error) {
	st := d.Status
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Generation > st.ObservedGeneration {
		return rollout{state: "waiting for the deployment controller to see the change"}, nil
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return rollout{}, steps.Permanentf("deployment %s/%s exceeded its progress deadline: %s", d.Namespace, d.Name, c.Message)
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		return rollout{state: fmt.Sprintf("waiting: %d of %d new replicas updated", st.UpdatedReplicas, want)}, nil
	case st.Replicas > st.UpdatedReplicas:
		return rollout{state: fmt.Sprintf("waiting: %d old replicas pending termination", st.Replicas-st.UpdatedReplicas)}, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return rollout{state: fmt.Sprintf("waiting: %d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)}, nil
	case st.ReadyReplicas < want:
		return rollout{state: fmt.Sprintf("waiting: %d of %d replicas ready", st.ReadyReplicas, want)}, nil
	case st.Replicas > want:
		return rollout{state: fmt.Sprintf("waiting: %d replicas beyond %d to go", st.Replicas-want, want)}, nil
	case st.TerminatingReplicas != nil && *st.TerminatingReplicas > 0:
		return rollout{state: fmt.Sprintf("waiting: %d replicas terminating", *st.TerminatingReplicas)}, nil
	}
	return rollout{done: true, state: fmt.Sprintf("%d of %d updated, ready and available", st.AvailableReplicas, want)}, nil
}

func statefulSetRollout(s *appsv1.StatefulSet) rollout {
	st := s.Status
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		return rollout{state: "waiting for the statefulset controller to see the change"}
	}
	if st.ReadyReplicas < want {
		return rollout{state: fmt.Sprintf("waiting: %d of %d pods ready", st.ReadyReplicas, want)}
	}
	if st.Replicas > want {
		return rollout{state: fmt.Sprintf("waiting: %d pods beyond %d to go", st.Replicas-want, want)}
	}
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition != nil {
		if st.UpdatedReplicas < want-*ru.Partition {
			return rollout{state: fmt.Sprintf("waiting: %d of %d new pods updated", st.UpdatedReplicas, want-*ru.Partition)}
		}
		return rollout{done: true, state: fmt.Sprintf("%d of %d ready, %d updated", st.ReadyReplicas, want, st.UpdatedReplicas)}
	}
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && st.UpdateRevision != st.CurrentRevision {
		return rollout{state: fmt.Sprintf("waiting: %d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision)}
	}
	return rollout{done: true, state: fmt.Sprintf("%d of %d ready", st.ReadyReplicas, want)}
}
