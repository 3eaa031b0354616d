package notify

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Config is one notifier's part of a runbook's notify section (decoded
// strictly, then CheckAndSetDefaults, as a step's `with`). A runbook loads
// it twice: as written (templates and references unexpanded, which
// CheckAndSetDefaults accepts where it checks a form) to report every
// problem with its line, and expanded when a run's notifiers are built.
type Config interface {
	steps.Config
	// SecretFields names the fields that hold credentials: a runbook must
	// give them as ${secret:NAME}, never in clear.
	SecretFields() []string
	// MilestoneKeys lists the milestone keys the config names, each with
	// its field, for the runbook to check: a key is a milestone name or the
	// ID of one of its phases or steps.
	MilestoneKeys() []KeyUse
}

// KeyUse is a milestone key named by a config field.
type KeyUse struct {
	Field, Key string
}

// BuildOptions are what a notifier is built with besides its config.
type BuildOptions struct {
	// HTTPClient sends the notifier's requests (nil: a client of its own);
	// every call also runs under the pipeline's call timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Redactor knows the secrets the runbook resolved.
	Redactor *secret.Redactor
}

// ParseOn checks an `on` list (milestone names, or public) into field
// errors under field, and returns it; def when the list is empty.
func ParseOn(errs *steps.FieldErrors, field string, on []string, def []Milestone) []Milestone {
	if len(on) == 0 {
		return def
	}
	out := make([]Milestone, 0, len(on))
	for i, s := range on {
		m := Milestone(s)
		if !m.Valid() {
			errs.Add(field+"["+strconv.Itoa(i)+"]", "unknown milestone %q (one of %s)", s, MilestoneNames())
			continue
		}
		out = append(out, m)
	}
	return out
}

// CheckMessages parses the templates of a messages map into field errors.
func CheckMessages(errs *steps.FieldErrors, field string, m map[string]string) Messages {
	out, bad := ParseMessages(m)
	for k, err := range bad {
		errs.Add(field+"."+k, "%v", err)
	}
	for k, src := range m {
		if strings.Contains(src, "${") {
			errs.Add(field+"."+k, "a message cannot hold ${secret:…} or ${env:…} references (it is shown to people)")
		}
	}
	return out
}

// MessageKeys lists a messages map's keys as KeyUses.
func MessageKeys(field string, m map[string]string) []KeyUse {
	var out []KeyUse
	for k := range m {
		out = append(out, KeyUse{Field: field + "." + k, Key: k})
	}
	return out
}

// IsMilestoneName reports whether key names a milestone (rather than a
// phase or step).
func IsMilestoneName(key string) bool {
	return Milestone(key) != Public && Milestone(key).Valid()
}

// WantsKeys builds a Target's Wants: the `on` list, and any milestone whose
// keys (its phase or step ID, its name) the config names.
func WantsKeys(on []Milestone, keys []KeyUse) func(n *Notification) bool {
	base := On(on)
	named := map[string]bool{}
	for _, k := range keys {
		named[k.Key] = true
	}
	return func(n *Notification) bool {
		if base(n) {
			return true
		}
		if n.Milestone == "" {
			return false
		}
		for _, k := range n.Keys() {
			if named[k] {
				return true
			}
		}
		return false
	}
}
