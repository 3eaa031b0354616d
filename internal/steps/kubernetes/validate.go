package kubernetes

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

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

// errs collects the field errors of one Validate call: the shared
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
