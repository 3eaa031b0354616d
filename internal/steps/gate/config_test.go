package gate

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxMessage+1)
	tests := []struct {
		name string
		with string
		want []string
	}{
		{name: "a message is enough", with: "{message: Check the dashboards}"},
		{name: "two people of a group", with: "{message: Rebuild the primary, required: 2, groups: [dba], users: [U123]}"},
		{name: "a message with a step output", with: `{message: "Point services at {{ .steps.promote.outputs.endpoint }}"}`},
		{name: "no message", with: "{}", want: []string{"message: is required: say what the person must do or check"}},
		{name: "too long a message", with: "{message: " + long + "}", want: []string{"message: must be at most 3000 bytes, got 3001"}},
		{name: "a DBA sign-off", with: "{message: Sign off the promotion, required: 2, groups: [dba], allowRequester: false, allowEarlierApprovers: false, expiry: 30m, onExpiry: fail}"},
		{name: "a bad expiry and expiry action", with: "{message: m, expiry: soon, onExpiry: ignore}",
			want: []string{`expiry: is not a duration (like 30m, 8h), got "soon"`, "onExpiry: must be one of pause, fail, got \"ignore\""}},
		{name: "negative count and empty names", with: "{message: m, required: -1, groups: [''], users: [a, '']}",
			want: []string{"required: must be ≥ 1, got -1", "groups[0]: must not be empty", "users[1]: must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Kinds()[0].NewConfig()
			dec := yaml.NewDecoder(bytes.NewBufferString(tt.with))
			dec.KnownFields(true)
			if err := dec.Decode(c); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := c.CheckAndSetDefaults(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					if _, ok := e.(*steps.FieldError); !ok {
						t.Errorf("%v is a %T, not a *steps.FieldError", e, e)
					}
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("CheckAndSetDefaults:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := &Config{Message: "m"}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Required != 1 || c.AllowRequester == nil || !*c.AllowRequester {
		t.Errorf("defaults: required %d, allowRequester %v; want 1, true", c.Required, c.AllowRequester)
	}
	p := c.Policy()
	if !p.AllowEarlierApprovers || p.OnExpiry != steps.OnExpiryPause || p.Expiry != 0 {
		t.Errorf("default policy %+v: want earlier approvers allowed, pause on expiry, the step's timeout", p)
	}
}

func TestRegister(t *testing.T) {
	r := steps.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	k, ok := r.Kind("gate")
	// Implemented, and never applied: the executor waits for its decision.
	if !ok || !k.ReadOnly() || !k.Implemented() || k.Connection() != "" || !slices.Equal(k.Outputs(), []string{"confirmedBy"}) {
		t.Errorf("gate kind = %+v", k)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice succeeded")
	}
}
