package charttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const chartDir = "../../deploy/helm/failover-bot"

// rendered is the chart rendered for one set of values.
type rendered struct {
	objs     []*unstructured.Unstructured
	manifest string
	notes    string
}

// render renders the chart as `helm install --dry-run` would (client
// only: templates, values.schema.json, NOTES.txt) for release "bot" in ns.
func render(t *testing.T, ns string, values map[string]any) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	inst := action.NewInstall(&action.Configuration{})
	inst.ClientOnly, inst.DryRun, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = "bot", ns
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	rel, err := inst.Run(ch, values)
	if err != nil {
		return nil, err
	}
	r := &rendered{manifest: rel.Manifest, notes: rel.Info.Notes}
	for _, m := range releaseutil.SplitManifests(rel.Manifest) {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(m), &obj); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, m)
		}
		if obj == nil {
			continue
		}
		r.objs = append(r.objs, &unstructured.Unstructured{Object: obj})
	}
	return r, nil
}

// mustRender renders or fails the test.
func mustRender(t *testing.T, ns string, values map[string]any) *rendered {
	t.Helper()
	r, err := render(t, ns, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// kinds counts the rendered objects by kind.
func (r *rendered) kinds() map[string]int {
	out := map[string]int{}
	for _, o := range r.objs {
		out[o.GetKind()]++
	}
	return out
}

// one returns the only object of kind (failing if not exactly one).
func (r *rendered) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// fullValues is testdata/full-values.yaml with the shipped lab runbook
// inline.
func fullValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/full-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	rb, err := os.ReadFile(filepath.Join("..", "..", "runbooks", "lab-failover.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v["runbooks"] = map[string]any{"files": map[string]any{"lab-failover.yaml": string(rb)}}
	return v
}

// container is the Deployment's bot container.
func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	return cs[0].(map[string]any)
}

func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// num is a number field (YAML numbers decode as float64 or int64).
func num(m map[string]any, path ...string) float64 {
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return -1
}
