package awstest

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"time"
)

// healthCheck is a Route 53 health check.
type healthCheck struct {
	id, callerRef string
	version       int64
	cfg           xmlHealthCheckConfig
	// healthy, when set, is how many checkers report success (until the
	// next UpdateHealthCheck); otherwise the target's health decides.
	healthy *int
}

// Checkers is how many health checkers observe each health check.
const Checkers = 8

// Route 53's health checkers: a region and an address each.
var checkers = [Checkers]struct{ region, ip string }{
	{"us-east-1", "15.177.2.45"}, {"us-west-1", "15.177.10.12"}, {"us-west-2", "15.177.14.201"},
	{"eu-west-1", "15.177.62.9"}, {"ap-southeast-1", "15.177.34.88"}, {"ap-southeast-2", "15.177.42.17"},
	{"ap-northeast-1", "15.177.50.140"}, {"sa-east-1", "15.177.58.33"},
}

// HealthCheckSpec seeds a health check with SeedHealthCheck, and is what
// HealthCheck returns.
type HealthCheckSpec struct {
	// ID, a UUID (default: generated).
	ID string
	// Type: HTTP, HTTPS (default), HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP.
	Type string
	// IPAddress or FullyQualifiedDomainName (or both) to check.
	IPAddress, FullyQualifiedDomainName string
	// Port (default 443), ResourcePath (default /health for HTTP(S)).
	Port         int
	ResourcePath string
	// Version is the HealthCheckVersion (read only).
	Version int64
}

// SeedHealthCheck adds a health check (every checker healthy) and returns
// its id.
func (s *Server) SeedHealthCheck(spec HealthCheckSpec) (string, error) {
	if spec.IPAddress == "" && spec.FullyQualifiedDomainName == "" {
		return "", fmt.Errorf("awstest: a health check needs an IPAddress or a FullyQualifiedDomainName")
	}
	if spec.Type == "" {
		spec.Type = "HTTPS"
	}
	if spec.Port == 0 {
		spec.Port = 443
	}
	if spec.ResourcePath == "" && spec.Type != "TCP" {
		spec.ResourcePath = "/health"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", s.nextID(), s.nextID())
	}
	if s.global.healthChecks[spec.ID] != nil {
		return "", fmt.Errorf("awstest: health check %s exists", spec.ID)
	}
	port := spec.Port
	s.global.healthChecks[spec.ID] = &healthCheck{id: spec.ID, callerRef: "awstest-" + spec.ID, version: 1, cfg: xmlHealthCheckConfig{
		IPAddress: spec.IPAddress, Port: &port, Type: spec.Type, ResourcePath: spec.ResourcePath,
		FQDN: spec.FullyQualifiedDomainName, RequestInterval: 30, FailureThreshold: 3,
	}}
	return spec.ID, nil
}

// HealthCheck returns the live configuration of a health check.
func (s *Server) HealthCheck(id string) (HealthCheckSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := s.global.healthChecks[id]
	if hc == nil {
		return HealthCheckSpec{}, false
	}
	spec := HealthCheckSpec{ID: id, Type: hc.cfg.Type, IPAddress: hc.cfg.IPAddress, FullyQualifiedDomainName: hc.cfg.FQDN,
		ResourcePath: hc.cfg.ResourcePath, Version: hc.version}
	if hc.cfg.Port != nil {
		spec.Port = *hc.cfg.Port
	}
	return spec, true
}

// SetHealthyCheckers makes n of the Checkers report the health check
// healthy (the rest fail), until its next UpdateHealthCheck.
func (s *Server) SetHealthyCheckers(id string, n int) error {
	if n < 0 || n > len(checkers) {
		return fmt.Errorf("awstest: healthy checkers must be 0–%d, got %d", len(checkers), n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := s.global.healthChecks[id]
	if hc == nil {
		return fmt.Errorf("awstest: no health check %s", id)
	}
	hc.healthy = &n
	return nil
}

// SetTargetHealth makes n of the Checkers report healthy every health
// check whose target (its FullyQualifiedDomainName, else its IPAddress) is
// target. Targets never set are healthy.
func (s *Server) SetTargetHealth(target string, n int) error {
	if n < 0 || n > len(checkers) {
		return fmt.Errorf("awstest: healthy checkers must be 0–%d, got %d", len(checkers), n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.global.targetHealth[target] = n
	return nil
}

// healthyCheckers is how many checkers see hc healthy. Callers hold s.mu.
func (s *Server) healthyCheckers(hc *healthCheck) int {
	if hc.healthy != nil {
		return *hc.healthy
	}
	target := hc.cfg.FQDN
	if target == "" {
		target = hc.cfg.IPAddress
	}
	if n, ok := s.global.targetHealth[target]; ok {
		return n
	}
	return len(checkers)
}

func noSuchHealthCheck(id string) *apiError {
	return errorf(404, "NoSuchHealthCheck", "A health check with id %s does not exist.", id)
}

func (s *Server) r53GetHealthCheck(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := s.global.healthChecks[c.vars["Id"]]
	if hc == nil {
		return nil, noSuchHealthCheck(c.vars["Id"])
	}
	return healthCheckResp{XMLName: xml.Name{Local: "GetHealthCheckResponse"}, Xmlns: route53NS, HealthCheck: hcXML(hc)}, nil
}

func hcXML(hc *healthCheck) xmlHealthCheck {
	return xmlHealthCheck{ID: hc.id, CallerReference: hc.callerRef, Config: hc.cfg, Version: hc.version}
}

func (s *Server) r53GetHealthCheckStatus(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := s.global.healthChecks[c.vars["Id"]]
	if hc == nil {
		return nil, noSuchHealthCheck(c.vars["Id"])
	}
	now := s.now()
	healthy := s.healthyCheckers(hc)
	out := healthStatusResp{Xmlns: route53NS}
	for i, ck := range checkers {
		status := "Success: HTTP Status Code 200, OK"
		if hc.cfg.Type == "TCP" {
			status = "Success: TCP connection established"
		}
		if i >= healthy {
			status = "Failure: Connection timed out. The endpoint or the internet connection is down, or requests are being blocked by your firewall. See https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-router-firewall-rules.html"
		}
		out.Observations = append(out.Observations, xmlObservation{Region: ck.region, IPAddress: ck.ip,
			Status: status, CheckedTime: awsTime(now.Add(-time.Duration(i+1) * 3 * time.Second))})
	}
	return out, nil
}

type updateHealthCheckRequest struct {
	XMLName       xml.Name `xml:"UpdateHealthCheckRequest"`
	Version       *int64   `xml:"HealthCheckVersion"`
	IPAddress     *string
	Port          *int
	ResourcePath  *string
	FQDN          *string `xml:"FullyQualifiedDomainName"`
	SearchString  *string
	Threshold     *int `xml:"FailureThreshold"`
	Inverted      *bool
	Disabled      *bool
	EnableSNI     *bool
	Regions       []string `xml:"Regions>Region"`
	ResetElements []string `xml:"ResetElements>ResettableElementName"`
}

func (s *Server) r53UpdateHealthCheck(c *call) (any, *apiError) {
	var req updateHealthCheckRequest
	if err := xml.Unmarshal(c.body, &req); err != nil {
		return nil, errorf(400, "InvalidInput", "Invalid XML ; %v", err)
	}
	if req.IPAddress != nil && *req.IPAddress != "" {
		if _, err := netip.ParseAddr(*req.IPAddress); err != nil {
			return nil, errorf(400, "InvalidInput", "Invalid IP address: %s", *req.IPAddress)
		}
	}
	if req.Port != nil && (*req.Port < 1 || *req.Port > 65535) {
		return nil, errorf(400, "InvalidInput", "1 validation error detected: Value '%d' at 'port' failed to satisfy constraint: Member must have value between 1 and 65535", *req.Port)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := s.global.healthChecks[c.vars["Id"]]
	if hc == nil {
		return nil, noSuchHealthCheck(c.vars["Id"])
	}
	if req.Version != nil && *req.Version != hc.version {
		return nil, errorf(409, "HealthCheckVersionMismatch", "The value of HealthCheckVersion in the request (%d) doesn't match the value of HealthCheckVersion in the health check (%d).", *req.Version, hc.version)
	}
	cfg := hc.cfg
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&cfg.IPAddress, req.IPAddress)
	set(&cfg.ResourcePath, req.ResourcePath)
	set(&cfg.FQDN, req.FQDN)
	set(&cfg.SearchString, req.SearchString)
	if req.Port != nil {
		p := *req.Port
		cfg.Port = &p
	}
	if req.Threshold != nil {
		cfg.FailureThreshold = *req.Threshold
	}
	if req.Inverted != nil {
		cfg.Inverted = *req.Inverted
	}
	if req.Disabled != nil {
		cfg.Disabled = *req.Disabled
	}
	if len(req.Regions) > 0 {
		cfg.Regions = req.Regions
	}
	for _, e := range req.ResetElements {
		switch e {
		case "FullyQualifiedDomainName":
			cfg.FQDN = ""
		case "ResourcePath":
			cfg.ResourcePath = ""
		case "Regions":
			cfg.Regions = nil
		case "ChildHealthChecks":
		default:
			return nil, errorf(400, "InvalidInput", "Invalid XML ; Value '%s' is not facet-valid with respect to enumeration '[FullyQualifiedDomainName, Regions, ResourcePath, ChildHealthChecks]'.", e)
		}
	}
	if cfg.IPAddress == "" && cfg.FQDN == "" {
		return nil, errorf(400, "InvalidInput", "Invalid request: a health check of type %s needs an IPAddress or a FullyQualifiedDomainName", cfg.Type)
	}
	hc.healthy = nil
	hc.cfg = cfg
	hc.version++
	return healthCheckResp{XMLName: xml.Name{Local: "UpdateHealthCheckResponse"}, Xmlns: route53NS, HealthCheck: hcXML(hc)}, nil
}

type xmlHealthCheckConfig struct {
	IPAddress        string `xml:",omitempty"`
	Port             *int   `xml:",omitempty"`
	Type             string
	ResourcePath     string `xml:",omitempty"`
	FQDN             string `xml:"FullyQualifiedDomainName,omitempty"`
	SearchString     string `xml:",omitempty"`
	RequestInterval  int
	FailureThreshold int
	MeasureLatency   bool
	Inverted         bool
	Disabled         bool
	EnableSNI        bool
	Regions          []string `xml:"Regions>Region"`
}

type xmlHealthCheck struct {
	ID              string `xml:"Id"`
	CallerReference string
	Config          xmlHealthCheckConfig `xml:"HealthCheckConfig"`
	Version         int64                `xml:"HealthCheckVersion"`
}

type healthCheckResp struct {
	XMLName     xml.Name
	Xmlns       string         `xml:"xmlns,attr"`
	HealthCheck xmlHealthCheck `xml:"HealthCheck"`
}

type xmlObservation struct {
	Region      string
	IPAddress   string
	Status      string `xml:"StatusReport>Status"`
	CheckedTime string `xml:"StatusReport>CheckedTime"`
}

type healthStatusResp struct {
	XMLName      xml.Name         `xml:"GetHealthCheckStatusResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	Observations []xmlObservation `xml:"HealthCheckObservations>HealthCheckObservation"`
}
