package kubernetes

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

var (
	_ steps.Config = (*NodesReadyConfig)(nil)
	_ steps.Config = (*PodsReadyConfig)(nil)
	_ steps.Config = (*ScaleConfig)(nil)
	_ steps.Config = (*PatchConfig)(nil)
	_ steps.Config = (*ResourcesPresentConfig)(nil)
	_ steps.Config = (*ServiceAddressConfig)(nil)
	_ steps.Config = (*ExecConfig)(nil)
	_ steps.Config = (*ExecCheckConfig)(nil)
	_ steps.Config = (*ApplyConfig)(nil)
	_ steps.Config = (*EventsConfig)(nil)
	_ steps.Config = (*LogsConfig)(nil)
	_ steps.Config = (*PodMetricsConfig)(nil)
)

// Expectations of kubernetes.nodesReady.
const (
	ExpectUp   = "up"
	ExpectDown = "down"
)

// Workloads kubernetes.scale can scale.
const (
	WorkloadDeployment  = "deployment"
	WorkloadStatefulSet = "statefulset"
)

// Patch types of kubernetes.patch (kubectl patch --type).
const (
	PatchStrategic = "strategic"
	PatchMerge     = "merge"
	PatchJSON      = "json"
)

// Address kinds kubernetes.serviceAddress can require.
const (
	AddressAny      = "any"
	AddressHostname = "hostname"
	AddressIP       = "ip"
)

// NodesReadyConfig configures kubernetes.nodesReady, a read-only probe of
// the cluster of the step's connection (`kubectl get nodes`).
//
// With expect up, it is done when at least minReady selected nodes are
// Ready (all of them with allReady). With expect down, it is done when the
// API server does not answer within requestTimeout or fewer than minReady
// nodes are Ready: the evidence that a primary region is gone.
// Outputs: ready, total (node counts; empty when the API did not answer).
type NodesReadyConfig struct {
	// Selector, optional, is a label selector of the nodes to count.
	Selector string `yaml:"selector"`
	// MinReady is the least number of Ready nodes (default 1).
	MinReady *int `yaml:"minReady"`
	// AllReady requires every selected node to be Ready.
	AllReady bool `yaml:"allReady"`
	// Expect is up (default) or down.
	Expect string `yaml:"expect"`
	// RequestTimeout bounds the call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *NodesReadyConfig) CheckAndSetDefaults() error {
	var e errs
	e.selector("selector", c.Selector)
	if c.MinReady == nil {
		one := 1
		c.MinReady = &one
	}
	e.atLeast("minReady", c.MinReady, 1)
	if c.Expect == "" {
		c.Expect = ExpectUp
	}
	e.OneOf("expect", c.Expect, ExpectUp, ExpectDown)
	if c.AllReady && c.Expect == ExpectDown {
		e.Add("allReady", "only applies with expect: up")
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// PodsReadyConfig configures kubernetes.podsReady, a read-only probe
// (`kubectl get pods`, `kubectl wait --for=condition=ready pods -l …`): done
// when the selected pods are Ready. Pods of finished Jobs (Succeeded) are
// not counted. The step waits, polling or watching, until done or its
// timeout. Outputs: ready, total.
type PodsReadyConfig struct {
	// Namespace of the pods (required).
	Namespace string `yaml:"namespace"`
	// Selector, optional, is a label selector (default: every pod of the
	// namespace).
	Selector string `yaml:"selector"`
	// MinReady, if set, is the least number of Ready pods; if not, every
	// selected pod must be Ready, and there must be at least one.
	MinReady *int `yaml:"minReady"`
	// MaxRestarts, if set, fails the check while any selected container has
	// restarted more often (a crash-looping pod can be Ready for a moment).
	MaxRestarts *int `yaml:"maxRestarts"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PodsReadyConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, true)
	e.selector("selector", c.Selector)
	e.atLeast("minReady", c.MinReady, 1)
	e.atLeast("maxRestarts", c.MaxRestarts, 0)
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// ScaleConfig configures kubernetes.scale (`kubectl scale deployment … --replicas=N`,
// also `--all` and `-l`): set the replicas of Deployments or StatefulSets.
// Check is done when every selected workload has spec.replicas = replicas
// (and, with waitReady, as many ready replicas). Exactly one of name,
// selector and all chooses the workloads.
type ScaleConfig struct {
	// Namespace of the workloads (required).
	Namespace string `yaml:"namespace"`
	// Workload is deployment (default) or statefulset.
	Workload string `yaml:"workload"`
	// Name of one workload.
	Name string `yaml:"name"`
	// Selector is a label selector of the workloads.
	Selector string `yaml:"selector"`
	// All selects every workload of the namespace.
	All bool `yaml:"all"`
	// Replicas is the desired count (required, ≥ 0).
	Replicas *int `yaml:"replicas"`
	// WaitReady also waits for the ready replicas (default true; with 0
	// replicas: for the pods to be gone).
	WaitReady *bool `yaml:"waitReady"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ScaleConfig) CheckAndSetDefaults() error {
	var e errs
	e.workloads(c.Namespace, &c.Workload, c.Name, c.Selector, c.All)
	if c.Replicas == nil {
		e.Add("replicas", "is required")
	} else {
		e.atLeast("replicas", c.Replicas, 0)
	}
	if c.WaitReady == nil {
		t := true
		c.WaitReady = &t
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// ResourcesPresentConfig configures kubernetes.resourcesPresent, a read-only
// probe (`kubectl get secrets`, `get pv`, `get pvc`, `get cronjobs`, `get svc`):
// done when every named object exists, at least minCount objects match,
// with phase, every one of them has that status.phase (PVCs "Bound"), and
// every one of them meets the field expectations (spec.replicas equals 0).
// Output: count (objects found).
type ResourcesPresentConfig struct {
	// Namespace, for namespaced resources (empty for cluster-scoped ones
	// such as persistentvolumes).
	Namespace string `yaml:"namespace"`
	// Resource is a kubectl-style resource: secrets, persistentvolumeclaims,
	// cronjobs.batch, services (required).
	Resource string `yaml:"resource"`
	// Names that must exist.
	Names []string `yaml:"names"`
	// Selector, optional, is a label selector for counting.
	Selector string `yaml:"selector"`
	// MinCount is the least number of matching objects (default 1 when no
	// names are given, else 0).
	MinCount *int `yaml:"minCount"`
	// Phase, optional, is the status.phase every object must have.
	Phase string `yaml:"phase"`
	// Fields, optional, are assertions on fields of every object found.
	Fields []FieldExpectation `yaml:"fields"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ResourcesPresentConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, false)
	e.resource("resource", c.Resource)
	seen := map[string]bool{}
	for i, n := range c.Names {
		f := "names[" + itoa(i) + "]"
		if n == "" {
			e.Add(f, "must not be empty")
			continue
		}
		if seen[n] {
			e.Add(f, "duplicate name %q", n)
		}
		seen[n] = true
		e.name(f, n)
	}
	e.selector("selector", c.Selector)
	if c.MinCount == nil {
		n := 0
		if len(c.Names) == 0 {
			n = 1
		}
		c.MinCount = &n
	}
	e.atLeast("minCount", c.MinCount, 0)
	for i := range c.Fields {
		c.Fields[i].validate(&e, fmt.Sprintf("fields[%d].", i))
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// ServiceAddressConfig configures kubernetes.serviceAddress, a read-only
// probe (`kubectl get service … -o jsonpath='{.status.loadBalancer.ingress[0].hostname}'`):
// done when the Service's load balancer has an address of the required
// kind. Outputs: hostname and ip of the first ingress entry (either may be
// empty, depending on the cloud), for later steps such as a Route 53 record:
// {{ .steps.<id>.outputs.hostname }}.
type ServiceAddressConfig struct {
	// Namespace of the Service (required).
	Namespace string `yaml:"namespace"`
	// Name of the Service (required).
	Name string `yaml:"name"`
	// Require is any (default), hostname or ip.
	Require string `yaml:"require"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ServiceAddressConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, true)
	if e.Required("name", c.Name) {
		e.name("name", c.Name)
	}
	if c.Require == "" {
		c.Require = AddressAny
	}
	e.OneOf("require", c.Require, AddressAny, AddressHostname, AddressIP)
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// DefaultRequestTimeout bounds each call to the API server unless a config
// says otherwise: a cluster whose API server drops packets must not hang a
// step (that is the primary region's failure mode).
const DefaultRequestTimeout = "10s"

var (
	// dns1123Label is a namespace or a label-like name.
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// dns1123Subdomain is the name of most objects.
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// resourceName is a kubectl-style resource: "service", "configmaps",
	// "deployments.apps", "cronjobs.batch".
	resourceName = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// quantity is a Kubernetes resource quantity ("250m", "1.5", "512Mi").
	quantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)
)

// errs collects the field errors of one CheckAndSetDefaults call: the shared
// collector plus the checks of Kubernetes names and values.
type errs struct{ steps.FieldErrors }

// namespace checks a namespace (a DNS-1123 label) unless templated.
func (e *errs) namespace(field, v string, required bool) {
	if v == "" {
		if required {
			e.Add(field, "is required")
		}
		return
	}
	if steps.IsTemplate(v) {
		return
	}
	if len(v) > 63 || !dns1123Label.MatchString(v) {
		e.Add(field, "must be a namespace name (lowercase letters, digits and '-', at most 63), got %q", v)
	}
}

// name checks an object name (a DNS-1123 subdomain) unless templated.
// workloads checks the workload selection scale and rolloutRestart share
// (a namespace; a Deployment, the default, or StatefulSet; exactly one of
// name, selector, all) and fills the default kind.
func (e *errs) workloads(namespace string, workload *string, name, selector string, all bool) {
	e.namespace("namespace", namespace, true)
	if *workload == "" {
		*workload = WorkloadDeployment
	}
	e.OneOf("workload", *workload, WorkloadDeployment, WorkloadStatefulSet)
	e.ExactlyOne([]string{"name", "selector", "all"}, name != "", selector != "", all)
	e.name("name", name)
	e.selector("selector", selector)
}

func (e *errs) name(field, v string) {
	if v == "" || steps.IsTemplate(v) {
		return
	}
	if len(v) > 253 || !dns1123Subdomain.MatchString(v) {
		e.Add(field, "must be an object name (lowercase letters, digits, '-' and '.'), got %q", v)
	}
}

// resource checks a kubectl-style resource name unless templated.
func (e *errs) resource(field, v string) {
	if !e.Required(field, v) || steps.IsTemplate(v) {
		return
	}
	if !resourceName.MatchString(v) {
		e.Add(field, "must be a resource such as service, configmaps or deployments.apps, got %q", v)
	}
}

// selector checks the form of a label selector unless templated: terms
// separated by commas outside parentheses, none empty, parentheses
// balanced. The API server checks the rest.
func (e *errs) selector(field, v string) {
	if v == "" || steps.IsTemplate(v) {
		return
	}
	depth, term := 0, strings.Builder{}
	bad := false
	flush := func() {
		if strings.TrimSpace(term.String()) == "" {
			bad = true
		}
		term.Reset()
	}
	for _, r := range v {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
			if depth < 0 {
				bad = true
			}
		case r == ',' && depth == 0:
			flush()
			continue
		}
		term.WriteRune(r)
	}
	flush()
	if bad || depth != 0 {
		e.Add(field, "is not a label selector (like app=web,tier in (a,b)), got %q", v)
	}
}

// duration checks a positive Go duration string unless templated; an
// empty value is accepted (the caller fills defaults first).
func (e *errs) duration(field, v string) {
	e.Duration(field, v, time.Nanosecond, "10s, 2m")
}

// requestTimeout fills the default API request timeout and checks it.
func (e *errs) requestTimeout(v *string) {
	if *v == "" {
		*v = DefaultRequestTimeout
	}
	e.duration("requestTimeout", *v)
}

// command checks an argv list.
func (e *errs) command(field string, argv []string) {
	if len(argv) == 0 {
		e.Add(field, "is required (a list: [program, arg, …])")
		return
	}
	for i, a := range argv {
		if i == 0 && strings.TrimSpace(a) == "" {
			e.Add(fmt.Sprintf("%s[0]", field), "the program must not be empty")
		}
	}
}

// atLeast checks an optional integer lower bound.
func (e *errs) atLeast(field string, v *int, min int) {
	if v != nil && *v < min {
		e.Add(field, "must be ≥ %d, got %d", min, *v)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
