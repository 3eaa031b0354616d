package secret

import (
	"net/url"
	"strings"
	"testing"
)

// A structured secret (a DSN, a URL with user info) teaches the redactor
// its parts: the password alone, in every form a library or a server may
// print it, is scrubbed, not only the whole value.
func TestAStructuredSecretRegistersItsPassword(t *testing.T) {
	const pw = `p@ss w0rd/x'q\z`
	userinfo := url.UserPassword("app", pw).String() // app:p%40ss%20w0rd%2Fx%27q%5Cz
	tests := map[string]struct {
		secret string
		// shown are texts a step, a driver or a server may print.
		shown []string
	}{
		"a postgres URL": {
			secret: "postgres://" + userinfo + "@db.internal:5432/app?sslmode=require",
			shown: []string{
				"primary_conninfo = user=app password='p@ss w0rd/x\\'q\\\\z' host=db.internal",
				"password=" + pw,
				"dial postgres://" + userinfo + "@other-host/app",
				"query-escaped " + url.QueryEscape(pw),
				"path-escaped " + url.PathEscape(pw),
				"lower-case escapes " + strings.ToLower(url.QueryEscape(pw)),
			},
		},
		"a libpq key=value DSN": {
			secret: `host=db.internal port=5432 user=app password='p@ss w0rd/x\'q\\z' dbname=app`,
			shown: []string{
				"password=" + pw,
				"postgres://" + userinfo + "@db.internal/app",
				"conninfo: password='p@ss w0rd/x\\'q\\\\z'",
			},
		},
		"a URL with the password in its query": {
			secret: "postgresql://db.internal/app?user=app&password=" + url.QueryEscape(pw),
			shown:  []string{"password=" + pw, "the password is " + url.QueryEscape(pw)},
		},
		"a Redis URL": {
			secret: "redis://:" + url.PathEscape(pw) + "@cache:6379/0",
			shown:  []string{"AUTH " + pw, "redis://:" + url.QueryEscape(pw) + "@cache"},
		},
		"an https URL with user info": {
			secret: "https://" + userinfo + "@hooks.example.com/x",
			shown:  []string{"401 for https://app:" + pw + "@hooks.example.com", pw},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			red := &Redactor{}
			r := &Resolver{Lookup: func(k string) (string, bool) { return tt.secret, true }, Redactor: red,
				Policy: Policy{SecretPrefix: "S_"}}
			if _, err := r.Resolve("DSN"); err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.shown {
				got := red.Scrub(s)
				for _, part := range []string{"p@ss", "w0rd", "p%40ss", "w0rd%2F", "w0rd%2f"} {
					if strings.Contains(got, part) {
						t.Errorf("Scrub(%q) = %q: still shows %q", s, got, part)
					}
				}
			}
		})
	}
}

// A part is scrubbed before any shorter value inside it, so that no
// remnant of a longer secret is left around a shorter one.
func TestLongerValuesAreScrubbedFirst(t *testing.T) {
	red := &Redactor{}
	red.Add("pass")
	red.Add("left-pass-right")
	if got := red.Scrub("x left-pass-right y"); got != "x "+Redacted+" y" {
		t.Fatalf("got %q", got)
	}
}

// A password kept URL-escaped for a DSN template is scrubbed as the driver
// prints it, unescaped.
func TestAnEscapedSecretIsScrubbedUnescaped(t *testing.T) {
	red := &Redactor{}
	red.Add(url.PathEscape("p@ss w0rd/x"))
	if got := red.Scrub("password=p@ss w0rd/x host=db"); strings.Contains(got, "w0rd") {
		t.Fatalf("got %q", got)
	}
}
