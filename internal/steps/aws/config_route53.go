package aws

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Expectations of aws.route53.healthCheck.
const (
	ExpectHealthy   = "healthy"
	ExpectUnhealthy = "unhealthy"
)

// Failover roles of a failover record.
const (
	FailoverPrimary   = "PRIMARY"
	FailoverSecondary = "SECONDARY"
)

// recordTypes are the Route 53 record types a step may write.
var recordTypes = []string{"A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "TXT"}

// maxTTL is Route 53's largest TTL.
const maxTTL = 2147483647

// Zone names a hosted zone: exactly one of hostedZoneId and zoneName (the
// zone is then looked up by name, as `aws route53 list-hosted-zones
// --query "HostedZones[?Name=='maip.example.com.'].Id"` does; more than one
// zone of that name is an error).
type Zone struct {
	// HostedZoneID, e.g. Z1234567890ABC.
	HostedZoneID string `yaml:"hostedZoneId"`
	// ZoneName, e.g. maip.example.com.
	ZoneName string `yaml:"zoneName"`
}

func (z *Zone) validate(e *errs) {
	e.ExactlyOne([]string{"hostedZoneId", "zoneName"}, z.HostedZoneID != "", z.ZoneName != "")
	e.match("hostedZoneId", z.HostedZoneID, hostedZoneID, "a hosted zone id such as Z1234567890ABC")
	e.match("zoneName", z.ZoneName, dnsName, "a domain name")
}

// AliasTarget is a Route 53 alias (to a load balancer, CloudFront, …).
type AliasTarget struct {
	// HostedZoneID of the target (the load balancer's zone, required).
	HostedZoneID string `yaml:"hostedZoneId"`
	// DNSName of the target (required).
	DNSName string `yaml:"dnsName"`
	// EvaluateTargetHealth makes Route 53 check the target's health.
	EvaluateTargetHealth bool `yaml:"evaluateTargetHealth"`
}

func (a *AliasTarget) validate(e *errs, prefix string) {
	if e.Required(prefix+"hostedZoneId", a.HostedZoneID) {
		e.match(prefix+"hostedZoneId", a.HostedZoneID, hostedZoneID, "a hosted zone id such as Z35SXDOTRQ7X7K")
	}
	if e.Required(prefix+"dnsName", a.DNSName) {
		e.match(prefix+"dnsName", a.DNSName, dnsName, "a domain name")
	}
}

// recordData validates values/aliasTarget/ttl of one record of type typ.
func recordData(e *errs, prefix, typ string, values []string, alias *AliasTarget, ttl *int) {
	switch {
	case len(values) == 0 && alias == nil:
		e.Add(prefix+"values", "one of values, aliasTarget is required")
	case len(values) > 0 && alias != nil:
		e.Add(prefix+"values", "at most one of values, aliasTarget")
	}
	if alias != nil {
		alias.validate(e, prefix+"aliasTarget.")
		if ttl != nil {
			e.Add(prefix+"ttl", "is not allowed with aliasTarget (the alias target's TTL applies)")
		}
		if typ == "CNAME" {
			e.Add(prefix+"aliasTarget", "a CNAME record cannot be an alias; use type A or AAAA")
		}
	}
	if len(values) > 0 {
		if ttl == nil {
			e.Add(prefix+"ttl", "is required with values")
		}
		if typ == "CNAME" && len(values) != 1 {
			e.Add(prefix+"values", "a CNAME record has exactly one value, got %d", len(values))
		}
	}
	if ttl != nil && (*ttl < 0 || *ttl > maxTTL) {
		e.Add(prefix+"ttl", "must be between 0 and %d, got %d", maxTTL, *ttl)
	}
	for i, v := range values {
		f := idx(prefix+"values", i)
		switch {
		case v == "":
			e.Add(f, "must not be empty")
		case typ == "A":
			e.ip(f, v, true, false)
		case typ == "AAAA":
			e.ip(f, v, false, true)
		case typ == "CNAME":
			e.match(f, v, dnsName, "a domain name")
		}
	}
}

// UpsertRecordConfig configures aws.route53.upsertRecord
// (`aws route53 change-resource-record-sets` with an UPSERT of a CNAME or an
// alias A record). Check is done when the live record set already has this
// data; Apply upserts it and waits until the change is INSYNC
// (`aws route53 get-change`). A plain record replaces the weighted or
// failover records of its name and type in the same change batch. A
// weighted record given only its setIdentifier and weight changes the
// weight of the live record and keeps the rest of it. Output: changeId (of
// the last change this step made, "" when it made none).
type UpsertRecordConfig struct {
	Zone `yaml:",inline"`
	// Name of the record, e.g. api.mimir.example.com (required).
	Name string `yaml:"name"`
	// Type of the record: A, AAAA, CNAME, TXT, … (required).
	Type string `yaml:"type"`
	// TTL in seconds (required with values; not allowed with aliasTarget).
	TTL *int `yaml:"ttl" unit:"seconds"`
	// Values of a plain record (exactly one for CNAME).
	Values []string `yaml:"values"`
	// AliasTarget of an alias record.
	AliasTarget *AliasTarget `yaml:"aliasTarget"`
	// SetIdentifier with Weight makes the record a weighted one; with
	// Failover a failover one.
	SetIdentifier string `yaml:"setIdentifier"`
	// Weight, 0–255; with no values and no aliasTarget only the live
	// record's weight changes.
	Weight *int `yaml:"weight"`
	// Failover is PRIMARY or SECONDARY.
	Failover string `yaml:"failover"`
	// HealthCheckID, optional, associates a health check with the record.
	HealthCheckID string `yaml:"healthCheckId"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// WeightOnly reports whether the config changes only the weight of a live
// weighted record.
func (c *UpsertRecordConfig) WeightOnly() bool {
	return c.Weight != nil && c.SetIdentifier != "" && len(c.Values) == 0 && c.AliasTarget == nil
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *UpsertRecordConfig) CheckAndSetDefaults() error {
	var e errs
	c.Zone.validate(&e)
	if e.Required("name", c.Name) {
		e.match("name", c.Name, dnsName, "a domain name")
	}
	if c.Type == "" {
		e.Add("type", "is required")
	} else {
		e.OneOf("type", c.Type, recordTypes...)
	}
	if c.WeightOnly() {
		if c.TTL != nil {
			e.Add("ttl", "is not allowed when only the weight changes (the live record keeps its own)")
		}
		if c.HealthCheckID != "" {
			e.Add("healthCheckId", "is not allowed when only the weight changes (the live record keeps its own)")
		}
	} else {
		recordData(&e, "", c.Type, c.Values, c.AliasTarget, c.TTL)
	}
	if c.Weight != nil && (*c.Weight < 0 || *c.Weight > 255) {
		e.Add("weight", "must be between 0 and 255, got %d", *c.Weight)
	}
	if c.Failover != "" {
		e.OneOf("failover", c.Failover, FailoverPrimary, FailoverSecondary)
	}
	switch {
	case c.Weight != nil && c.Failover != "":
		e.Add("weight", "at most one of weight, failover")
	case (c.Weight != nil || c.Failover != "") && c.SetIdentifier == "":
		e.Add("setIdentifier", "is required with weight or failover")
	case c.SetIdentifier != "" && c.Weight == nil && c.Failover == "":
		e.Add("weight", "one of weight, failover is required with setIdentifier")
	}
	e.healthCheckIDOptional("healthCheckId", c.HealthCheckID)
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// WeightedRecord is one weighted record of aws.route53.shiftWeights.
type WeightedRecord struct {
	// SetIdentifier names the record (required), e.g. primary or dr.
	SetIdentifier string `yaml:"setIdentifier"`
	// Values or AliasTarget: the record's data (exactly one).
	Values      []string     `yaml:"values"`
	AliasTarget *AliasTarget `yaml:"aliasTarget"`
	// HealthCheckID, optional, associates a health check with the record.
	HealthCheckID string `yaml:"healthCheckId"`
}

// WeightStage is one stage of a traffic shift.
type WeightStage struct {
	// Weights by set identifier, 0–255, not all 0 (required for every record).
	Weights map[string]int `yaml:"weights"`
	// Hold is how long the health gate must hold after this stage before
	// the next one (a duration; default 5m). The last stage has none:
	// nothing follows it, so a hold there is refused.
	Hold string `yaml:"hold"`
}

// ShiftWeightsConfig configures aws.route53.shiftWeights (failback: "start
// with 10% to primary, 90% to DR; monitor, then shift to 50/50, then
// 90/10, then 100/0"). Apply finds the stage the live weights are at (a
// plain record of the same name and type is replaced by the weighted
// records in one change batch), holds it while the health gate passes, and
// moves to the next stage until the last; each change is waited on until
// INSYNC. A failed gate sets the previous stage's weights (before the first
// stage: initialWeights) and fails permanently. After a restart it resumes
// from the stage the live weights are at (holding it again from the
// start), never re-applying earlier stages. Check is done when the live
// weights are the last stage's. Outputs: weights (set=weight,
// comma-separated), stage (the 1-based index the live weights are at, 0
// before the first, "" when they are none of the stages).
type ShiftWeightsConfig struct {
	Zone `yaml:",inline"`
	// Name of the record (required).
	Name string `yaml:"name"`
	// Type of the records: A, AAAA or CNAME (required).
	Type string `yaml:"type"`
	// TTL of records with values (required with values).
	TTL *int `yaml:"ttl" unit:"seconds"`
	// Records are the weighted records (at least two).
	Records []WeightedRecord `yaml:"records"`
	// Stages in order (at least one).
	Stages []WeightStage `yaml:"stages"`
	// InitialWeights are the weights before the first stage, where a failed
	// gate in the first stage returns (default: all traffic to the records
	// the last stage gives 0, i.e. where the shift moves traffic from; with
	// no such record and none given, a failed gate in the first stage
	// leaves the weights as they are).
	InitialWeights map[string]int `yaml:"initialWeights"`
	// HealthGate between stages (at least one check or alarm).
	HealthGate HealthGate `yaml:"healthGate"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// DefaultHold is a stage's hold when none is given.
const DefaultHold = "5m"

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ShiftWeightsConfig) CheckAndSetDefaults() error {
	var e errs
	c.Zone.validate(&e)
	if e.Required("name", c.Name) {
		e.match("name", c.Name, dnsName, "a domain name")
	}
	if c.Type == "" {
		e.Add("type", "is required")
	} else {
		e.OneOf("type", c.Type, "A", "AAAA", "CNAME")
	}
	if len(c.Records) < 2 {
		e.Add("records", "at least two weighted records are required, got %d", len(c.Records))
	}
	ids := map[string]bool{}
	for i, r := range c.Records {
		p := idx("records", i) + "."
		if r.SetIdentifier == "" {
			e.Add(p+"setIdentifier", "is required")
		} else if strings.ContainsAny(r.SetIdentifier, ".,= ") {
			e.Add(p+"setIdentifier", "must not contain '.', ',', '=' or spaces (it names stage weights), got %q", r.SetIdentifier)
		} else if ids[r.SetIdentifier] {
			e.Add(p+"setIdentifier", "duplicate set identifier %q", r.SetIdentifier)
		}
		ids[r.SetIdentifier] = true
		var ttl *int
		if len(r.Values) > 0 {
			ttl = c.TTL
			if ttl == nil {
				ttl = new(int) // reported once below, not per record
			}
		}
		recordData(&e, p, c.Type, r.Values, r.AliasTarget, ttl)
	}
	if c.TTL != nil && slices.ContainsFunc(c.Records, func(r WeightedRecord) bool { return r.AliasTarget != nil }) {
		e.Add("ttl", "is not allowed with alias records (the alias target's TTL applies)")
	}
	if c.TTL == nil && slices.ContainsFunc(c.Records, func(r WeightedRecord) bool { return len(r.Values) > 0 }) {
		e.Add("ttl", "is required with values")
	}
	c.validateStages(&e, ids)
	c.HealthGate.validate(&e)
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

func (c *ShiftWeightsConfig) validateStages(e *errs, ids map[string]bool) {
	if len(c.Stages) == 0 {
		e.Add("stages", "at least one stage is required")
	}
	for i := range c.Stages {
		s := &c.Stages[i]
		p := idx("stages", i)
		switch {
		case i == len(c.Stages)-1 && s.Hold != "":
			e.Add(p+".hold", "the last stage has no hold: no stage follows it (the step is done when its weights are live)")
		case i == len(c.Stages)-1:
		case s.Hold == "":
			s.Hold = DefaultHold
		}
		e.duration(p+".hold", s.Hold, 0)
		total := 0
		for _, id := range sortedKeys(s.Weights) {
			w := s.Weights[id]
			if !ids[id] {
				e.Add(p+".weights."+id, "is not the setIdentifier of a record")
			}
			if w < 0 || w > 255 {
				e.Add(p+".weights."+id, "must be between 0 and 255, got %d", w)
			}
			total += w
		}
		for _, r := range c.Records {
			if _, ok := s.Weights[r.SetIdentifier]; !ok && r.SetIdentifier != "" {
				e.Add(p+".weights", "missing a weight for %q", r.SetIdentifier)
			}
		}
		if len(s.Weights) > 0 && total == 0 {
			e.Add(p+".weights", "must not all be 0 (Route 53 would then spread traffic evenly)")
		}
	}
	if len(c.InitialWeights) == 0 && len(c.Stages) > 0 {
		last := c.Stages[len(c.Stages)-1].Weights
		from, moved := map[string]int{}, false
		for _, r := range c.Records {
			if w, ok := last[r.SetIdentifier]; ok && w == 0 {
				from[r.SetIdentifier], moved = 100, true
			} else if r.SetIdentifier != "" {
				from[r.SetIdentifier] = 0
			}
		}
		if moved {
			c.InitialWeights = from
		}
	}
	total := 0
	for _, id := range sortedKeys(c.InitialWeights) {
		w := c.InitialWeights[id]
		if !ids[id] {
			e.Add("initialWeights."+id, "is not the setIdentifier of a record")
		}
		if w < 0 || w > 255 {
			e.Add("initialWeights."+id, "must be between 0 and 255, got %d", w)
		}
		total += w
	}
	if len(c.InitialWeights) > 0 && total == 0 {
		e.Add("initialWeights", "must not all be 0 (Route 53 would then spread traffic evenly)")
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Holds returns the validated hold durations of the stages (0 for the
// last).
func (c *ShiftWeightsConfig) Holds() []time.Duration {
	out := make([]time.Duration, len(c.Stages))
	for i, s := range c.Stages {
		out[i] = steps.ParseDuration(s.Hold)
	}
	return out
}

// HealthCheckConfig configures aws.route53.healthCheck, a read-only probe
// (`aws route53 get-health-check-status`): done when the health check's
// status, as Route 53 decides it from its checkers (healthy when more than
// 18% of them report healthy), is expect; with minCheckers, when at least
// that many checkers report expect. Outputs: status (healthy or
// unhealthy, Route 53's decision), healthyCheckers ("n/m").
type HealthCheckConfig struct {
	// HealthCheckID is the health check (required).
	HealthCheckID string `yaml:"healthCheckId"`
	// Expect is healthy (default) or unhealthy.
	Expect string `yaml:"expect"`
	// MinCheckers, optional: done when at least this many checkers report
	// expect ("unhealthy in at least 3 of the checkers"), whatever Route 53
	// decides overall.
	MinCheckers *int `yaml:"minCheckers"`
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *HealthCheckConfig) CheckAndSetDefaults() error {
	var e errs
	e.healthCheckID("healthCheckId", c.HealthCheckID)
	if c.Expect == "" {
		c.Expect = ExpectHealthy
	}
	e.OneOf("expect", c.Expect, ExpectHealthy, ExpectUnhealthy)
	if n := c.MinCheckers; n != nil && (*n < 1 || *n > 64) {
		e.Add("minCheckers", "must be between 1 and 64, got %d", *n)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// UpdateHealthCheckConfig configures aws.route53.updateHealthCheck
// (`aws route53 update-health-check --ip-address …`): point a health check
// at another endpoint. Check is done when the health check already has the
// given fields; fields left empty are not changed.
type UpdateHealthCheckConfig struct {
	// HealthCheckID is the health check (required).
	HealthCheckID string `yaml:"healthCheckId"`
	// IPAddress to check.
	IPAddress string `yaml:"ipAddress"`
	// FullyQualifiedDomainName to check (for a load balancer hostname,
	// whose addresses change, prefer this to ipAddress).
	FullyQualifiedDomainName string `yaml:"fullyQualifiedDomainName"`
	// Port, 1–65535.
	Port *int `yaml:"port"`
	// ResourcePath for HTTP(S) checks, e.g. /health.
	ResourcePath string `yaml:"resourcePath"`
	// CallTimeout bounds each call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *UpdateHealthCheckConfig) CheckAndSetDefaults() error {
	var e errs
	e.healthCheckID("healthCheckId", c.HealthCheckID)
	if c.IPAddress == "" && c.FullyQualifiedDomainName == "" && c.Port == nil && c.ResourcePath == "" {
		e.Add("ipAddress", "one of ipAddress, fullyQualifiedDomainName, port, resourcePath is required")
	}
	e.ip("ipAddress", c.IPAddress, false, false)
	e.match("fullyQualifiedDomainName", c.FullyQualifiedDomainName, dnsName, "a domain name")
	if c.Port != nil && (*c.Port < 1 || *c.Port > 65535) {
		e.Add("port", "must be between 1 and 65535, got %d", *c.Port)
	}
	if checkable(c.ResourcePath) && !strings.HasPrefix(c.ResourcePath, "/") {
		e.Add("resourcePath", "must start with /, got %q", c.ResourcePath)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// healthCheckIDOptional checks an optional health check id.
func (e *errs) healthCheckIDOptional(field, v string) {
	if v != "" {
		e.healthCheckID(field, v)
	}
}

// healthCheckID checks a Route 53 health check id (a UUID) unless templated.
func (e *errs) healthCheckID(field, v string) {
	if !e.Required(field, v) {
		return
	}
	if len(v) != 36 || strings.Count(v, "-") != 4 || strings.Trim(strings.ToLower(v), "0123456789abcdef-") != "" {
		e.Add(field, "must be a health check id (a UUID such as abcdef01-2345-6789-abcd-ef0123456789), got %q", v)
	}
}
