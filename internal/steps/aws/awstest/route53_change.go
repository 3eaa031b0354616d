package awstest

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

type xmlRR struct {
	Value string
}

type xmlAlias struct {
	HostedZoneID         string `xml:"HostedZoneId"`
	DNSName              string
	EvaluateTargetHealth bool
}

type xmlRRSet struct {
	Name            string
	Type            string
	SetIdentifier   string    `xml:",omitempty"`
	Weight          *int64    `xml:",omitempty"`
	Region          string    `xml:",omitempty"`
	Failover        string    `xml:",omitempty"`
	MultiValue      *bool     `xml:"MultiValueAnswer,omitempty"`
	TTL             *int64    `xml:",omitempty"`
	ResourceRecords []xmlRR   `xml:"ResourceRecords>ResourceRecord"`
	AliasTarget     *xmlAlias `xml:",omitempty"`
	HealthCheckID   string    `xml:"HealthCheckId,omitempty"`
}

type xmlChange struct {
	Action            string
	ResourceRecordSet xmlRRSet
}

type changeRequest struct {
	XMLName xml.Name    `xml:"ChangeResourceRecordSetsRequest"`
	Comment string      `xml:"ChangeBatch>Comment"`
	Changes []xmlChange `xml:"ChangeBatch>Changes>Change"`
}

func recordXML(r Record) xmlRRSet {
	x := xmlRRSet{Name: r.Name, Type: r.Type, SetIdentifier: r.SetIdentifier, Weight: r.Weight,
		Failover: r.Failover, TTL: r.TTL, HealthCheckID: r.HealthCheckID}
	for _, v := range r.Values {
		x.ResourceRecords = append(x.ResourceRecords, xmlRR{Value: v})
	}
	if a := r.Alias; a != nil {
		x.AliasTarget = &xmlAlias{HostedZoneID: a.HostedZoneID, DNSName: a.DNSName, EvaluateTargetHealth: a.EvaluateTargetHealth}
	}
	return x
}

func recordFromXML(x xmlRRSet) Record {
	r := Record{Name: fqdn(x.Name), Type: x.Type, SetIdentifier: x.SetIdentifier, Weight: x.Weight,
		Failover: x.Failover, TTL: x.TTL, HealthCheckID: x.HealthCheckID}
	for _, v := range x.ResourceRecords {
		r.Values = append(r.Values, v.Value)
	}
	if a := x.AliasTarget; a != nil {
		r.Alias = &AliasTarget{HostedZoneID: strings.TrimPrefix(a.HostedZoneID, "/hostedzone/"), DNSName: fqdn(a.DNSName), EvaluateTargetHealth: a.EvaluateTargetHealth}
	}
	return r
}

// Hosted zones of load balancers by region, for alias validation:
// application and classic (NAME.REGION.elb.amazonaws.com) and network
// (NAME.elb.REGION.amazonaws.com) load balancers.
var (
	albZones = map[string]string{
		"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-1": "Z368ELLRRE2KJ0",
		"us-west-2": "Z1H1FL5HABSF5", "eu-west-1": "Z32O12XQLNTSW2", "eu-central-1": "Z215JYRZR1TBD5",
		"ap-southeast-1": "Z1LMS91P8CMLE5", "ap-southeast-2": "Z1GM3OXH4ZPM65", "ap-northeast-1": "Z14GRHDCWA56QT",
	}
	nlbZones = map[string]string{
		"us-east-1": "Z26RNL4JYFTOTI", "us-east-2": "ZLMOA37VPKANP", "us-west-1": "Z24FKFUX50B4VW",
		"us-west-2": "Z18D5FSROUN65G", "eu-west-1": "Z2IFOLAFXWLO4F", "eu-central-1": "Z3F0SRJ5LGBH90",
	}
)

var recordTypes = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}

func setDesc(r Record) string {
	if r.SetIdentifier != "" {
		return fmt.Sprintf("[name='%s', type='%s', set-identifier='%s']", r.Name, r.Type, r.SetIdentifier)
	}
	return fmt.Sprintf("[name='%s', type='%s']", r.Name, r.Type)
}

func changeDesc(action string, r Record) string {
	id := "null"
	if r.SetIdentifier != "" {
		id = r.SetIdentifier
	}
	return fmt.Sprintf("Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]", action, r.Name, r.Type, id)
}

// checkShape is Route 53's request validation (InvalidInput): which
// members a record set must and must not have.
func checkShape(action string, r Record) *apiError {
	where := changeDesc(action, r)
	switch {
	case !slices.Contains([]string{"CREATE", "DELETE", "UPSERT"}, action):
		return errorf(400, "InvalidInput", "Invalid XML ; Value '%s' is not facet-valid with respect to enumeration '[CREATE, DELETE, UPSERT]'.", action)
	case !slices.Contains(recordTypes, r.Type):
		return errorf(400, "InvalidInput", "Invalid XML ; Value '%s' is not facet-valid with respect to enumeration '%v'.", r.Type, recordTypes)
	case r.Alias != nil && (r.TTL != nil || len(r.Values) > 0):
		return errorf(400, "InvalidInput", "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in %s", where)
	case r.Alias == nil && (r.TTL == nil || len(r.Values) == 0):
		return errorf(400, "InvalidInput", "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in %s", where)
	case r.TTL != nil && (*r.TTL < 0 || *r.TTL > 2147483647):
		return errorf(400, "InvalidInput", "Invalid request: TTL must be between 0 and 2147483647 in %s", where)
	}
	policies := 0
	if r.Weight != nil {
		policies++
		if *r.Weight < 0 || *r.Weight > 255 {
			return errorf(400, "InvalidInput", "Invalid request: Weight must be between 0 and 255 in %s", where)
		}
	}
	if r.Failover != "" {
		policies++
		if r.Failover != "PRIMARY" && r.Failover != "SECONDARY" {
			return errorf(400, "InvalidInput", "Invalid XML ; Value '%s' is not facet-valid with respect to enumeration '[PRIMARY, SECONDARY]'.", r.Failover)
		}
	}
	switch {
	case policies > 1:
		return errorf(400, "InvalidInput", "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found more than one in %s", where)
	case r.SetIdentifier != "" && policies == 0:
		return errorf(400, "InvalidInput", "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in %s", where)
	case r.SetIdentifier == "" && policies > 0:
		return errorf(400, "InvalidInput", "Invalid request: Missing field 'SetIdentifier' in %s", where)
	}
	return nil
}

// checkData validates the values and alias of a record set against the
// zone (InvalidChangeBatch messages); records is the zone as the batch has
// changed it so far.
func (s *Server) checkData(z *hostedZone, r Record, records []Record) string {
	if r.Name != z.name && !strings.HasSuffix(r.Name, "."+z.name) {
		return fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", r.Name, z.name)
	}
	for _, v := range r.Values {
		switch r.Type {
		case "A":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
				return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '%s''", v)
			}
		case "AAAA":
			if a, err := netip.ParseAddr(v); err != nil || !a.Is6() || a.Is4In6() {
				return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with '%s''", v)
			}
		case "CNAME":
			if strings.ContainsAny(v, " \t") || v == "" {
				return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: DomainLabelEmpty (Domain label is empty) encountered with '%s''", v)
			}
		}
	}
	if r.Type == "CNAME" && len(r.Values) > 1 {
		return fmt.Sprintf("RRSet of type CNAME with DNS name %s contains more than one value", r.Name)
	}
	if a := r.Alias; a != nil {
		if msg := checkAlias(z, r, records); msg != "" {
			return msg
		}
	}
	return ""
}

func checkAlias(z *hostedZone, r Record, records []Record) string {
	a := r.Alias
	target := strings.TrimSuffix(strings.TrimPrefix(a.DNSName, "dualstack."), ".")
	outside := fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but the alias target name does not lie within the target zone", a.DNSName, r.Type, a.HostedZoneID)
	labels := strings.Split(target, ".")
	n := len(labels)
	switch {
	case n >= 4 && labels[n-1] == "com" && labels[n-2] == "amazonaws" && labels[n-3] == "elb":
		if zone, ok := albZones[labels[n-4]]; ok && zone != a.HostedZoneID {
			return outside
		}
	case n >= 4 && labels[n-1] == "com" && labels[n-2] == "amazonaws" && labels[n-4] == "elb":
		if zone, ok := nlbZones[labels[n-3]]; ok && zone != a.HostedZoneID {
			return outside
		}
	case a.HostedZoneID == z.id:
		if !slices.ContainsFunc(records, func(o Record) bool { return o.Name == a.DNSName && o.Type == r.Type }) {
			return fmt.Sprintf("Tried to create an alias that targets %s, type %s in zone %s, but that target was not found", a.DNSName, r.Type, a.HostedZoneID)
		}
	}
	return ""
}

// checkConflicts is Route 53's check of a new record set against the
// others of its name.
func checkConflicts(z *hostedZone, r Record, records []Record) string {
	for _, o := range records {
		if o.Name != r.Name || sameSet(o, r) {
			continue
		}
		if o.Type != r.Type && (o.Type == "CNAME" || r.Type == "CNAME") {
			return fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", r.Type, r.Name, z.name)
		}
		if o.Type != r.Type {
			continue
		}
		switch {
		case r.SetIdentifier == "" && o.SetIdentifier != "":
			return fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as other RRSets exist with the same name and type.", r.Name, r.Type)
		case r.SetIdentifier != "" && o.SetIdentifier == "":
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created as a non-weighted set exists with the same name and type.", r.Name, r.Type, r.SetIdentifier)
		case (r.Weight != nil) != (o.Weight != nil):
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created because a RRSet with the same name and type exists with a different routing policy (SetIdentifier %s).", r.Name, r.Type, r.SetIdentifier, o.SetIdentifier)
		case r.Failover != "" && r.Failover == o.Failover:
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created because a %s failover RRSet (SetIdentifier %s) exists with the same name and type.", r.Name, r.Type, r.SetIdentifier, r.Failover, o.SetIdentifier)
		}
	}
	return ""
}

func sameData(a, b Record) bool {
	eq := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	av, bv := slices.Clone(a.Values), slices.Clone(b.Values)
	slices.Sort(av)
	slices.Sort(bv)
	aliasEq := (a.Alias == nil) == (b.Alias == nil) && (a.Alias == nil || *a.Alias == *b.Alias)
	return eq(a.TTL, b.TTL) && eq(a.Weight, b.Weight) && slices.Equal(av, bv) && aliasEq &&
		a.Failover == b.Failover && a.HealthCheckID == b.HealthCheckID
}

func (s *Server) r53Change(c *call) (any, *apiError) {
	var req changeRequest
	if err := xml.Unmarshal(c.body, &req); err != nil {
		return nil, errorf(400, "InvalidInput", "Invalid XML ; %v", err)
	}
	if len(req.Changes) == 0 {
		return nil, errorf(400, "InvalidInput", "1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zone(c.vars["Id"])
	if z == nil {
		return nil, noSuchZone(c.vars["Id"])
	}
	records := slices.Clone(z.records)
	var msgs []string
	for _, ch := range req.Changes {
		r := recordFromXML(ch.ResourceRecordSet)
		if err := checkShape(ch.Action, r); err != nil {
			return nil, err
		}
		if r.HealthCheckID != "" && s.global.healthChecks[r.HealthCheckID] == nil {
			msgs = append(msgs, fmt.Sprintf("The health check with id %s does not exist", r.HealthCheckID))
			continue
		}
		i := slices.IndexFunc(records, func(o Record) bool { return sameSet(o, r) })
		switch ch.Action {
		case "DELETE":
			switch {
			case i < 0:
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but it was not found", setDesc(r)))
			case !sameData(records[i], r):
				msgs = append(msgs, fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values", setDesc(r)))
			case r.Type == "SOA" || (r.Type == "NS" && r.Name == z.name):
				msgs = append(msgs, fmt.Sprintf("A HostedZone must contain at least one NS record for the zone itself and exactly one SOA record; %s cannot be deleted", setDesc(r)))
			default:
				records = slices.Delete(records, i, i+1)
			}
			continue
		case "CREATE":
			if i >= 0 {
				msgs = append(msgs, fmt.Sprintf("Tried to create resource record set %s but it already exists", setDesc(r)))
				continue
			}
		}
		if msg := s.checkData(z, r, records); msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		if msg := checkConflicts(z, r, records); msg != "" {
			msgs = append(msgs, msg)
			continue
		}
		if i >= 0 {
			records[i] = r
		} else {
			records = append(records, r)
		}
	}
	switch len(msgs) {
	case 0:
	case 1:
		return nil, &apiError{status: 400, code: "InvalidChangeBatch", message: "[" + msgs[0] + "]"}
	default:
		return nil, &apiError{status: 400, code: "InvalidChangeBatch", message: "[" + strings.Join(msgs, ", ") + "]", messages: msgs}
	}
	sortRecords(records)
	z.records = records
	now := s.now()
	ch := &change{id: fmt.Sprintf("C%012dAWSTEST", s.nextID()), submitted: now, comment: req.Comment}
	ch.status.set("PENDING", now)
	ch.status.set("INSYNC", now.Add(s.Scaled().ChangeInsync))
	s.global.changes[ch.id] = ch
	s.obs.track(Change(ch.id), &ch.status)
	return changeInfoResp{XMLName: xml.Name{Local: "ChangeResourceRecordSetsResponse"}, Xmlns: route53NS, Info: changeXML(ch, now)}, nil
}
