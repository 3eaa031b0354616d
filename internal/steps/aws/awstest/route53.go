package awstest

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

const route53NS = "https://route53.amazonaws.com/doc/2013-04-01/"

var route53Service = &service{
	name:   "route53",
	proto:  protoRESTXML,
	global: true,
	xmlns:  route53NS,
	ops: map[string]opFunc{
		"ListHostedZonesByName":    (*Server).r53ListZonesByName,
		"GetHostedZone":            (*Server).r53GetZone,
		"ListResourceRecordSets":   (*Server).r53ListRecords,
		"ChangeResourceRecordSets": (*Server).r53Change,
		"GetChange":                (*Server).r53GetChange,
		"GetHealthCheck":           (*Server).r53GetHealthCheck,
		"GetHealthCheckStatus":     (*Server).r53GetHealthCheckStatus,
		"UpdateHealthCheck":        (*Server).r53UpdateHealthCheck,
	},
	routes: []restRoute{
		{"GET", "/2013-04-01/hostedzonesbyname", "ListHostedZonesByName"},
		{"GET", "/2013-04-01/hostedzone/{Id}", "GetHostedZone"},
		{"GET", "/2013-04-01/hostedzone/{Id}/rrset", "ListResourceRecordSets"},
		{"POST", "/2013-04-01/hostedzone/{Id}/rrset", "ChangeResourceRecordSets"},
		{"GET", "/2013-04-01/change/{Id}", "GetChange"},
		{"GET", "/2013-04-01/healthcheck/{Id}", "GetHealthCheck"},
		{"GET", "/2013-04-01/healthcheck/{Id}/status", "GetHealthCheckStatus"},
		{"POST", "/2013-04-01/healthcheck/{Id}", "UpdateHealthCheck"},
	},
	resource: func(_ *Server, c *call) string {
		switch c.op {
		case "ListHostedZonesByName":
			return "*"
		case "GetChange":
			return "arn:aws:route53:::change/" + c.vars["Id"]
		case "GetHealthCheck", "GetHealthCheckStatus", "UpdateHealthCheck":
			return "arn:aws:route53:::healthcheck/" + c.vars["Id"]
		}
		return "arn:aws:route53:::hostedzone/" + c.vars["Id"]
	},
}

// hostedZone is a Route 53 hosted zone and its records.
type hostedZone struct {
	id, name, callerRef string
	private             bool
	records             []Record
	nameServers         []string
}

// change is a submitted change batch.
type change struct {
	id        string
	submitted time.Time
	comment   string
	status    timeline
}

// Record is a Route 53 record set (the fake's view; names end with a dot).
type Record struct {
	Name, Type    string
	SetIdentifier string
	Weight        *int64
	Failover      string // PRIMARY, SECONDARY
	TTL           *int64
	Values        []string
	Alias         *AliasTarget
	HealthCheckID string
}

// AliasTarget is the target of an alias record.
type AliasTarget struct {
	HostedZoneID         string
	DNSName              string
	EvaluateTargetHealth bool
}

// HostedZoneSpec seeds a hosted zone with SeedHostedZone.
type HostedZoneSpec struct {
	// ID such as Z1234567890ABC (default: generated).
	ID string
	// Name, e.g. maip.example.com (a trailing dot is added).
	Name    string
	Private bool
}

// fqdn lower-cases a DNS name and ends it with a dot.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// SeedHostedZone adds a hosted zone with its SOA and NS records and
// returns its id.
func (s *Server) SeedHostedZone(spec HostedZoneSpec) (string, error) {
	if spec.Name == "" {
		return "", fmt.Errorf("awstest: a hosted zone needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("Z%012dFAKE", s.nextID())
	}
	if s.zone(spec.ID) != nil {
		return "", fmt.Errorf("awstest: hosted zone %s exists", spec.ID)
	}
	name := fqdn(spec.Name)
	z := &hostedZone{id: spec.ID, name: name, callerRef: "awstest-" + spec.ID, private: spec.Private}
	n := s.nextID()
	for i := range 4 {
		z.nameServers = append(z.nameServers, fmt.Sprintf("ns-%d.awsdns-%02d.%s", int(n)*7+i*331, i*11+int(n)%10, []string{"com", "net", "org", "co.uk"}[i]))
	}
	ttl, nsTTL := int64(900), int64(172800)
	z.records = []Record{
		{Name: name, Type: "NS", TTL: &nsTTL, Values: addDots(z.nameServers)},
		{Name: name, Type: "SOA", TTL: &ttl, Values: []string{z.nameServers[0] + ". awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
	}
	s.global.zones = append(s.global.zones, z)
	return spec.ID, nil
}

func addDots(ns []string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n + "."
	}
	return out
}

// SeedRecord adds or replaces a record set in a zone, unvalidated.
func (s *Server) SeedRecord(zoneID string, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(zoneID)
	if z == nil {
		return fmt.Errorf("awstest: no hosted zone %s", zoneID)
	}
	r.Name = fqdn(r.Name)
	z.records = slices.DeleteFunc(z.records, func(o Record) bool { return sameSet(o, r) })
	z.records = append(z.records, r)
	sortRecords(z.records)
	return nil
}

// Records returns the record sets of a zone in Route 53's order.
func (s *Server) Records(zoneID string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zone(zoneID); z != nil {
		return slices.Clone(z.records)
	}
	return nil
}

// zone finds a zone by id (with or without /hostedzone/). Callers hold s.mu.
func (s *Server) zone(id string) *hostedZone {
	id = strings.TrimPrefix(id, "/hostedzone/")
	for _, z := range s.global.zones {
		if z.id == id {
			return z
		}
	}
	return nil
}

func sameSet(a, b Record) bool {
	return a.Name == b.Name && a.Type == b.Type && a.SetIdentifier == b.SetIdentifier
}

// reversed returns a DNS name with its labels reversed (com.example.www),
// Route 53's sort order for zones and records.
func reversed(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

func recordKey(r Record) [3]string { return [3]string{reversed(r.Name), r.Type, r.SetIdentifier} }

func sortRecords(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int {
		ka, kb := recordKey(a), recordKey(b)
		return slices.Compare(ka[:], kb[:])
	})
}

func noSuchZone(id string) *apiError {
	return errorf(404, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
}

func (s *Server) r53ListZonesByName(c *call) (any, *apiError) {
	dns, zid := c.form.Get("dnsname"), c.form.Get("hostedzoneid")
	if zid != "" && dns == "" {
		return nil, errorf(400, "InvalidInput", "The input is not valid: hostedzoneid requires dnsname")
	}
	max, err := maxItems(c, 100)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zones := slices.Clone(s.global.zones)
	slices.SortFunc(zones, func(a, b *hostedZone) int {
		return slices.Compare([]string{reversed(a.name), a.id}, []string{reversed(b.name), b.id})
	})
	out := listZonesByName{Xmlns: route53NS, MaxItems: strconv.Itoa(max)}
	if dns != "" {
		out.DNSName = fqdn(dns)
		out.HostedZoneID = zid
	}
	start := []string{"", ""}
	if dns != "" {
		start = []string{reversed(fqdn(dns)), zid}
	}
	for _, z := range zones {
		if slices.Compare([]string{reversed(z.name), z.id}, start) < 0 {
			continue
		}
		if len(out.HostedZones) == max {
			out.IsTruncated, out.NextDNSName, out.NextHostedZoneID = true, z.name, z.id
			break
		}
		out.HostedZones = append(out.HostedZones, zoneXML(z))
	}
	return out, nil
}

func maxItems(c *call, def int) (int, *apiError) {
	v := c.form.Get("maxitems")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errorf(400, "InvalidInput", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a positive integer", v)
	}
	return min(n, def), nil
}

func zoneXML(z *hostedZone) xmlZone {
	return xmlZone{ID: "/hostedzone/" + z.id, Name: z.name, CallerReference: z.callerRef,
		Private: z.private, Count: len(z.records)}
}

func (s *Server) r53GetZone(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(c.vars["Id"])
	if z == nil {
		return nil, noSuchZone(c.vars["Id"])
	}
	return getZone{Xmlns: route53NS, Zone: zoneXML(z), NameServers: z.nameServers}, nil
}

func (s *Server) r53ListRecords(c *call) (any, *apiError) {
	name, typ, ident := c.form.Get("name"), c.form.Get("type"), c.form.Get("identifier")
	if typ != "" && name == "" {
		return nil, errorf(400, "InvalidInput", "The input is not valid: type requires name")
	}
	if ident != "" && typ == "" {
		return nil, errorf(400, "InvalidInput", "The input is not valid: identifier requires name and type")
	}
	max, err := maxItems(c, 300)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(c.vars["Id"])
	if z == nil {
		return nil, noSuchZone(c.vars["Id"])
	}
	var start [3]string
	if name != "" {
		start = [3]string{reversed(fqdn(name)), typ, ident}
	}
	out := listRecords{Xmlns: route53NS, MaxItems: strconv.Itoa(max)}
	for _, r := range z.records {
		k := recordKey(r)
		if slices.Compare(k[:], start[:]) < 0 {
			continue
		}
		if len(out.Records) == max {
			out.IsTruncated, out.NextName, out.NextType, out.NextIdentifier = true, r.Name, r.Type, r.SetIdentifier
			break
		}
		out.Records = append(out.Records, recordXML(r))
	}
	return out, nil
}

func (s *Server) r53GetChange(c *call) (any, *apiError) {
	id := strings.TrimPrefix(c.vars["Id"], "/change/")
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.global.changes[id]
	if ch == nil {
		return nil, errorf(404, "NoSuchChange", "A change with the specified change ID does not exist: %s", id)
	}
	return changeInfoResp{XMLName: xml.Name{Local: "GetChangeResponse"}, Xmlns: route53NS, Info: changeXML(ch, s.now())}, nil
}

func changeXML(ch *change, now time.Time) xmlChangeInfo {
	return xmlChangeInfo{ID: "/change/" + ch.id, Status: ch.status.state(now), SubmittedAt: awsTime(ch.submitted), Comment: ch.comment}
}

type xmlZone struct {
	ID              string `xml:"Id"`
	Name            string
	CallerReference string
	Comment         string `xml:"Config>Comment,omitempty"`
	Private         bool   `xml:"Config>PrivateZone"`
	Count           int    `xml:"ResourceRecordSetCount"`
}

type listZonesByName struct {
	XMLName          xml.Name  `xml:"ListHostedZonesByNameResponse"`
	Xmlns            string    `xml:"xmlns,attr"`
	HostedZones      []xmlZone `xml:"HostedZones>HostedZone"`
	DNSName          string    `xml:",omitempty"`
	HostedZoneID     string    `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool
	NextDNSName      string `xml:",omitempty"`
	NextHostedZoneID string `xml:"NextHostedZoneId,omitempty"`
	MaxItems         string
}

type getZone struct {
	XMLName     xml.Name `xml:"GetHostedZoneResponse"`
	Xmlns       string   `xml:"xmlns,attr"`
	Zone        xmlZone  `xml:"HostedZone"`
	NameServers []string `xml:"DelegationSet>NameServers>NameServer"`
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string
	SubmittedAt string
	Comment     string `xml:",omitempty"`
}

type changeInfoResp struct {
	XMLName xml.Name
	Xmlns   string        `xml:"xmlns,attr"`
	Info    xmlChangeInfo `xml:"ChangeInfo"`
}

type listRecords struct {
	XMLName        xml.Name   `xml:"ListResourceRecordSetsResponse"`
	Xmlns          string     `xml:"xmlns,attr"`
	Records        []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool
	NextName       string `xml:"NextRecordName,omitempty"`
	NextType       string `xml:"NextRecordType,omitempty"`
	NextIdentifier string `xml:"NextRecordIdentifier,omitempty"`
	MaxItems       string
}
