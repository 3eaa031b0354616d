package access

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/kubernetes"
)

// TestOfflineResourcesMatchDiscovery: `bot rbac` maps kubectl-style
// resources without a cluster; for every resource the lab's API server
// serves, its plural, singular and short names map to the group and
// resource discovery gives (what the step will ask for at run time).
func TestOfflineResourcesMatchDiscovery(t *testing.T) {
	cs := kubetest.Client(t)
	_, lists, err := cs.Discovery().ServerGroupsAndResources()
	must(t, err)
	// kubectl prefers the core group (events: v1, not events.k8s.io).
	slices.SortStableFunc(lists, func(a, b *metav1.APIResourceList) int {
		return cmp.Compare(rank(a.GroupVersion), rank(b.GroupVersion))
	})
	checked := 0
	seen := map[string]bool{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			group := r.Group
			if group == "" {
				if g, _, ok := strings.Cut(l.GroupVersion, "/"); ok {
					group = g
				}
			}
			if r.Name == "" || strings.Contains(r.Name, "/") || seen[r.Name] {
				continue // subresources; the first group serving a name is kubectl's choice
			}
			seen[r.Name] = true
			names := append([]string{r.Name, r.Name + "." + group}, r.ShortNames...)
			if r.SingularName != "" {
				names = append(names, r.SingularName)
			}
			for _, n := range names {
				cfg := &kubernetes.PatchConfig{Resource: n, Name: "x"}
				p, err := cfg.Permissions(steps.PermissionTarget{})
				must(t, err)
				got := p.Kube[0]
				if got.Group != group || got.Resource != r.Name {
					t.Errorf("%q maps to %s.%s offline, discovery says %s.%s", n, got.Resource, got.Group, r.Name, group)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked only %d names", checked)
	}
}

func rank(gv string) int {
	if gv == "v1" {
		return 0
	}
	return 1
}
