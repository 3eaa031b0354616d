package aws

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// DefaultCallTimeout bounds each AWS API call unless a config says
// otherwise: an endpoint in a failed region that drops packets must not
// hang a step.
const DefaultCallTimeout = "10s"

var (
	// regionName is an AWS region such as us-east-1 or us-gov-west-1.
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// hostedZoneID is a Route 53 zone id, with or without /hostedzone/.
	hostedZoneID = regexp.MustCompile(`^(/hostedzone/)?Z[A-Z0-9]{1,31}$`)
	// dnsName is a domain name, optionally fully qualified, maybe a wildcard.
	dnsName = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.?$`)
	// tableName is a DynamoDB table name.
	tableName = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	// bucketName is an S3 bucket name.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// eksName is an EKS cluster or node group name.
	eksName = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
)

// errs collects the field errors of one Validate call: the shared
// collector plus the checks of AWS names and values.
type errs struct{ steps.FieldErrors }

// checkable reports whether an optional v is set and not a template.
func checkable(v string) bool { return v != "" && !steps.IsTemplate(v) }

// match checks v against re unless empty or templated.
func (e *errs) match(field, v string, re *regexp.Regexp, what string) {
	if checkable(v) && !re.MatchString(v) {
		e.Add(field, "must be %s, got %q", what, v)
	}
}

// region checks a region name unless empty or templated.
func (e *errs) region(field, v string) {
	e.match(field, v, regionName, "an AWS region such as us-west-2")
}

// dbIdentifier checks an RDS DB instance identifier unless templated:
// 1 to 63 letters, digits or hyphens, starting with a letter, with no two
// consecutive hyphens and no hyphen at the end.
func (e *errs) dbIdentifier(field, v string) {
	if !e.Required(field, v) {
		return
	}
	ok := len(v) <= 63 && isLetter(v[0]) && !strings.HasSuffix(v, "-") && !strings.Contains(v, "--")
	for i := 0; ok && i < len(v); i++ {
		ok = isLetter(v[i]) || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'
	}
	if !ok {
		e.Add(field, "must be a DB instance identifier (1–63 letters, digits, hyphens; a letter first; no -- or trailing -), got %q", v)
	}
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// duration checks a Go duration string of at least min unless empty or
// templated.
func (e *errs) duration(field, v string, min time.Duration) {
	e.Duration(field, v, min, "10s, 5m")
}

// callTimeout fills and checks a callTimeout field.
func (e *errs) callTimeout(v *string) {
	if *v == "" {
		*v = DefaultCallTimeout
	}
	e.duration("callTimeout", *v, time.Nanosecond)
}

// ip checks an IP address unless empty or templated.
func (e *errs) ip(field, v string, want4, want6 bool) {
	if !checkable(v) {
		return
	}
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		e.Add(field, "is not an IP address: %q", v)
	case want4 && !a.Is4():
		e.Add(field, "must be an IPv4 address, got %q", v)
	case want6 && !a.Is6():
		e.Add(field, "must be an IPv6 address, got %q", v)
	}
}

func idx(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
