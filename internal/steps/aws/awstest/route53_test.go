package awstest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

func TestHostedZonesAreFoundByName(t *testing.T) {
	s, _, m, mi := seeded(t)
	c := r53Client(s)
	out, err := c.ListHostedZonesByName(ctx(t), &route53.ListHostedZonesByNameInput{DNSName: aws.String("maip.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.HostedZones) == 0 || aws.ToString(out.HostedZones[0].Name) != "maip.example.com." ||
		aws.ToString(out.HostedZones[0].Id) != "/hostedzone/"+m.ZoneID {
		t.Fatalf("zones by name = %+v", out.HostedZones)
	}
	// Zones sort by reversed labels: com.example.maip before com.example.mimir.
	if len(out.HostedZones) != 2 || aws.ToString(out.HostedZones[1].Name) != "mimir.example.com." {
		t.Errorf("zones from maip.example.com = %d, want maip then mimir", len(out.HostedZones))
	}
	one, err := c.ListHostedZonesByName(ctx(t), &route53.ListHostedZonesByNameInput{DNSName: aws.String("maip.example.com"), MaxItems: aws.Int32(1)})
	if err != nil || !one.IsTruncated || aws.ToString(one.NextDNSName) != "mimir.example.com." || aws.ToString(one.NextHostedZoneId) != mi.ZoneID {
		t.Errorf("one zone: truncated %v next %q/%q err %v", one.IsTruncated, aws.ToString(one.NextDNSName), aws.ToString(one.NextHostedZoneId), err)
	}

	z, err := c.GetHostedZone(ctx(t), &route53.GetHostedZoneInput{Id: aws.String(mi.ZoneID)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(z.HostedZone.Name) != "mimir.example.com." || z.DelegationSet == nil || len(z.DelegationSet.NameServers) != 4 ||
		aws.ToInt64(z.HostedZone.ResourceRecordSetCount) != 4 {
		t.Errorf("GetHostedZone = %+v %+v", z.HostedZone, z.DelegationSet)
	}
	_, err = c.GetHostedZone(ctx(t), &route53.GetHostedZoneInput{Id: aws.String("ZNOPE")})
	var nz *types.NoSuchHostedZone
	if !errors.As(err, &nz) {
		t.Errorf("unknown zone: err = %v, want NoSuchHostedZone", err)
	}
}

func listAll(t *testing.T, c *route53.Client, zone string, page int32) []types.ResourceRecordSet {
	t.Helper()
	p := route53.NewListResourceRecordSetsPaginator(c, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone), MaxItems: aws.Int32(page)})
	var all []types.ResourceRecordSet
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("list records of %s: %v", zone, err)
		}
		all = append(all, out.ResourceRecordSets...)
	}
	return all
}

func names(rs []types.ResourceRecordSet) []string {
	var out []string
	for _, r := range rs {
		n := aws.ToString(r.Name) + " " + string(r.Type)
		if r.SetIdentifier != nil {
			n += " " + *r.SetIdentifier
		}
		out = append(out, n)
	}
	return out
}

func TestListResourceRecordSetsPagesInRoute53Order(t *testing.T) {
	s, _, _, mi := seeded(t)
	rs := listAll(t, r53Client(s), mi.ZoneID, 1)
	want := []string{"mimir.example.com. NS", "mimir.example.com. SOA", "api.mimir.example.com. CNAME", "app.mimir.example.com. CNAME"}
	if got := names(rs); !slices.Equal(got, want) {
		t.Fatalf("records = %v, want %v", got, want)
	}
	api := rs[2]
	if aws.ToInt64(api.TTL) != 60 || len(api.ResourceRecords) != 1 || aws.ToString(api.ResourceRecords[0].Value) != awstest.MimirPrimaryAPILB {
		t.Errorf("api record = %+v", api)
	}
}

func change(action types.ChangeAction, r types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: &r}
}

func TestUpsertAliasWaitsUntilTheChangeIsInsync(t *testing.T) {
	s, clk, m, _ := seeded(t)
	d := s.Scaled()
	var seen []types.ChangeStatus
	c := route53.NewFromConfig(config(s, east), func(o *route53.Options) {
		o.APIOptions = append(o.APIOptions, afterEach(func(out *route53.GetChangeOutput) {
			seen = append(seen, out.ChangeInfo.Status)
			clk.Advance(d.ChangeInsync / 2)
		}))
	})
	out, err := c.ChangeResourceRecordSets(ctx(t), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(m.ZoneID),
		ChangeBatch: &types.ChangeBatch{Comment: aws.String("failover"), Changes: []types.Change{change(types.ChangeActionUpsert, types.ResourceRecordSet{
			Name: aws.String(awstest.MAIPAPIName), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String("Z1H1FL5HABSF5"), DNSName: aws.String(awstest.MAIPDRALB), EvaluateTargetHealth: true},
		})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/") {
		t.Fatalf("change info = %+v", out.ChangeInfo)
	}
	w := route53.NewResourceRecordSetsChangedWaiter(c, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	if err := w.Wait(ctx(t), &route53.GetChangeInput{Id: out.ChangeInfo.Id}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := []types.ChangeStatus{"PENDING", "PENDING", "INSYNC"}; !slices.Equal(seen, want) {
		t.Errorf("the waiter saw %v, want %v", seen, want)
	}
	at, ok := s.EnteredAt(awstest.Change(aws.ToString(out.ChangeInfo.Id)), "INSYNC")
	if !ok || at.Sub(aws.ToTime(out.ChangeInfo.SubmittedAt)) > d.ChangeInsync {
		t.Errorf("INSYNC at %v (ok %v), submitted %v", at, ok, out.ChangeInfo.SubmittedAt)
	}
	rs := listAll(t, c, m.ZoneID, 100)
	i := slices.IndexFunc(rs, func(r types.ResourceRecordSet) bool { return aws.ToString(r.Name) == "api.maip.example.com." })
	if i < 0 || rs[i].AliasTarget == nil || aws.ToString(rs[i].AliasTarget.DNSName) != awstest.MAIPDRALB+"." {
		t.Fatalf("api record after upsert = %+v", rs)
	}
	_, err = c.GetChange(ctx(t), &route53.GetChangeInput{Id: aws.String("CNOPE")})
	if apiCode(err) != "NoSuchChange" {
		t.Errorf("unknown change: err = %v, want NoSuchChange", err)
	}
}

func TestChangeBatchesAreValidatedAsRoute53Does(t *testing.T) {
	s, _, m, mi := seeded(t)
	ttl := aws.Int64(60)
	cname := func(name, value string) types.ResourceRecordSet {
		return types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeCname, TTL: ttl, ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}}
	}
	weighted := func(name, id string, w int64, value string) types.ResourceRecordSet {
		r := cname(name, value)
		r.SetIdentifier, r.Weight = aws.String(id), aws.Int64(w)
		return r
	}
	apiNow := cname(awstest.MimirAPIName, awstest.MimirPrimaryAPILB)
	for _, tc := range []struct {
		name     string
		zone     string
		changes  []types.Change
		code     string // InvalidChangeBatch or InvalidInput
		messages []string
	}{
		{"an alias to a us-west-2 load balancer in the us-east-1 zone", m.ZoneID, []types.Change{change(types.ChangeActionUpsert, types.ResourceRecordSet{
			Name: aws.String(awstest.MAIPAPIName), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String("Z35SXDOTRQ7X7K"), DNSName: aws.String(awstest.MAIPDRALB)}})},
			"InvalidChangeBatch", []string{"does not lie within the target zone"}},
		{"creating a record that exists", mi.ZoneID, []types.Change{change(types.ChangeActionCreate, apiNow)},
			"InvalidChangeBatch", []string{"Tried to create resource record set [name='api.mimir.example.com.', type='CNAME'] but it already exists"}},
		{"deleting a record that is not there", mi.ZoneID, []types.Change{change(types.ChangeActionDelete, cname("www.mimir.example.com", "x.example.com"))},
			"InvalidChangeBatch", []string{"but it was not found"}},
		{"deleting with other values", mi.ZoneID, []types.Change{change(types.ChangeActionDelete, cname(awstest.MimirAPIName, "other.example.com"))},
			"InvalidChangeBatch", []string{"the values provided do not match the current values"}},
		{"a weighted record beside a plain one", mi.ZoneID, []types.Change{change(types.ChangeActionCreate, weighted(awstest.MimirAPIName, "dr", 90, "dr.example.com"))},
			"InvalidChangeBatch", []string{"cannot be created as a non-weighted set exists with the same name and type"}},
		{"an A record beside a CNAME", mi.ZoneID, []types.Change{change(types.ChangeActionCreate, types.ResourceRecordSet{
			Name: aws.String(awstest.MimirAPIName), Type: types.RRTypeA, TTL: ttl, ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}}})},
			"InvalidChangeBatch", []string{"conflicts with other records with the same DNS name"}},
		{"a name outside the zone", mi.ZoneID, []types.Change{change(types.ChangeActionUpsert, cname("api.other.example.org", "x.example.com"))},
			"InvalidChangeBatch", []string{"is not permitted in zone mimir.example.com."}},
		{"an A record whose value is no IPv4 address", mi.ZoneID, []types.Change{change(types.ChangeActionUpsert, types.ResourceRecordSet{
			Name: aws.String("db.mimir.example.com"), Type: types.RRTypeA, TTL: ttl, ResourceRecords: []types.ResourceRecord{{Value: aws.String("2001:db8::1")}}})},
			"InvalidChangeBatch", []string{"ARRDATAIllegalIPv4Address"}},
		{"two bad changes give two messages", mi.ZoneID, []types.Change{change(types.ChangeActionCreate, apiNow),
			change(types.ChangeActionDelete, cname("www.mimir.example.com", "x.example.com"))},
			"InvalidChangeBatch", []string{"already exists", "was not found"}},
		{"an alias with a TTL", m.ZoneID, []types.Change{change(types.ChangeActionUpsert, types.ResourceRecordSet{
			Name: aws.String(awstest.MAIPAPIName), Type: types.RRTypeA, TTL: ttl,
			AliasTarget: &types.AliasTarget{HostedZoneId: aws.String("Z1H1FL5HABSF5"), DNSName: aws.String(awstest.MAIPDRALB)}})},
			"InvalidInput", []string{"Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]"}},
		{"a weight without a set identifier", mi.ZoneID, []types.Change{change(types.ChangeActionUpsert, func() types.ResourceRecordSet {
			r := cname(awstest.MimirAPIName, "x.example.com")
			r.Weight = aws.Int64(10)
			return r
		}())}, "InvalidInput", []string{"Missing field 'SetIdentifier'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Records(tc.zone)
			_, err := r53Client(s).ChangeResourceRecordSets(ctx(t), &route53.ChangeResourceRecordSetsInput{
				HostedZoneId: aws.String(tc.zone), ChangeBatch: &types.ChangeBatch{Changes: tc.changes}})
			var got []string
			switch tc.code {
			case "InvalidChangeBatch":
				var icb *types.InvalidChangeBatch
				if !errors.As(err, &icb) {
					t.Fatalf("err = %v, want InvalidChangeBatch", err)
				}
				got = icb.Messages
				if len(got) == 0 {
					got = []string{aws.ToString(icb.Message)}
				}
			case "InvalidInput":
				var ii *types.InvalidInput
				if !errors.As(err, &ii) {
					t.Fatalf("err = %v, want InvalidInput", err)
				}
				got = []string{aws.ToString(ii.Message)}
			}
			if len(got) != len(tc.messages) {
				t.Fatalf("messages = %q, want %d like %q", got, len(tc.messages), tc.messages)
			}
			for i, want := range tc.messages {
				if !strings.Contains(got[i], want) {
					t.Errorf("message %d = %q, want it to contain %q", i, got[i], want)
				}
			}
			if after := s.Records(tc.zone); len(after) != len(before) {
				t.Errorf("a refused batch changed the zone: %d records, were %d", len(after), len(before))
			}
		})
	}
}

func TestWeightedAndFailoverRecordsWithSetIdentifiers(t *testing.T) {
	s, _, _, mi := seeded(t)
	c := r53Client(s)
	ttl := aws.Int64(60)
	rec := func(id string, w int64, value string) types.ResourceRecordSet {
		return types.ResourceRecordSet{Name: aws.String(awstest.MimirAPIName), Type: types.RRTypeCname, TTL: ttl,
			SetIdentifier: aws.String(id), Weight: aws.Int64(w), ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}},
			HealthCheckId: aws.String(mi.APIHealthCheckID)}
	}
	apply := func(changes ...types.Change) error {
		_, err := c.ChangeResourceRecordSets(ctx(t), &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(mi.ZoneID),
			ChangeBatch: &types.ChangeBatch{Changes: changes}})
		return err
	}
	// The plain record is replaced by two weighted ones in one batch.
	plain := types.ResourceRecordSet{Name: aws.String(awstest.MimirAPIName), Type: types.RRTypeCname, TTL: ttl,
		ResourceRecords: []types.ResourceRecord{{Value: aws.String(awstest.MimirPrimaryAPILB)}}}
	if err := apply(change(types.ChangeActionDelete, plain), change(types.ChangeActionCreate, rec("primary", 10, "p.example.com")),
		change(types.ChangeActionCreate, rec("dr", 90, "d.example.com"))); err != nil {
		t.Fatal(err)
	}
	if err := apply(change(types.ChangeActionUpsert, rec("primary", 50, "p.example.com")), change(types.ChangeActionUpsert, rec("dr", 50, "d.example.com"))); err != nil {
		t.Fatal(err)
	}
	rs := listAll(t, c, mi.ZoneID, 2)
	weights := map[string]int64{}
	for _, r := range rs {
		if aws.ToString(r.Name) == "api.mimir.example.com." {
			weights[aws.ToString(r.SetIdentifier)] = aws.ToInt64(r.Weight)
			if aws.ToString(r.HealthCheckId) != mi.APIHealthCheckID {
				t.Errorf("%s lost its health check", aws.ToString(r.SetIdentifier))
			}
		}
	}
	if len(weights) != 2 || weights["primary"] != 50 || weights["dr"] != 50 {
		t.Errorf("weights = %v, want primary 50 dr 50", weights)
	}

	failover := func(id string, role types.ResourceRecordSetFailover) types.ResourceRecordSet {
		return types.ResourceRecordSet{Name: aws.String("db.mimir.example.com"), Type: types.RRTypeA, TTL: ttl, SetIdentifier: aws.String(id),
			Failover: role, ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.10")}}}
	}
	if err := apply(change(types.ChangeActionCreate, failover("east", types.ResourceRecordSetFailoverPrimary)),
		change(types.ChangeActionCreate, failover("west", types.ResourceRecordSetFailoverSecondary))); err != nil {
		t.Fatal(err)
	}
	err := apply(change(types.ChangeActionCreate, failover("west-2", types.ResourceRecordSetFailoverSecondary)))
	if apiCode(err) != "InvalidChangeBatch" {
		t.Errorf("a second SECONDARY: err = %v, want InvalidChangeBatch", err)
	}
	err = apply(change(types.ChangeActionCreate, rec("third", 1, "t.example.com")), change(types.ChangeActionCreate, types.ResourceRecordSet{
		Name: aws.String(awstest.MimirAPIName), Type: types.RRTypeCname, TTL: ttl, SetIdentifier: aws.String("fo"),
		Failover: types.ResourceRecordSetFailoverPrimary, ResourceRecords: []types.ResourceRecord{{Value: aws.String("f.example.com")}}}))
	if apiCode(err) != "InvalidChangeBatch" {
		t.Errorf("failover beside weighted records: err = %v, want InvalidChangeBatch", err)
	}
}

func TestHealthCheckStatusReportsEachChecker(t *testing.T) {
	s, _, _, mi := seeded(t)
	c := r53Client(s)
	status := func() (healthy, total int) {
		out, err := c.GetHealthCheckStatus(ctx(t), &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(mi.APIHealthCheckID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.HealthCheckObservations {
			if o.StatusReport == nil || o.StatusReport.CheckedTime == nil || o.Region == "" || aws.ToString(o.IPAddress) == "" {
				t.Fatalf("observation = %+v", o)
			}
			if strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
				healthy++
			}
		}
		return healthy, len(out.HealthCheckObservations)
	}
	if h, n := status(); h != n || n != awstest.Checkers {
		t.Errorf("seeded: %d/%d healthy, want all of %d", h, n, awstest.Checkers)
	}
	if err := s.SetHealthyCheckers(mi.APIHealthCheckID, 2); err != nil {
		t.Fatal(err)
	}
	if h, n := status(); h != 2 || n-h != 6 {
		t.Errorf("2 healthy: got %d/%d", h, n)
	}
	restore := s.RegionOutage(east)
	if err := s.SetHealthyCheckers(mi.APIHealthCheckID, awstest.Checkers); err != nil {
		t.Fatal(err)
	}
	// An explicit setting wins over the target's health until an update.
	if h, _ := status(); h != awstest.Checkers {
		t.Errorf("explicitly healthy during the outage: %d healthy", h)
	}
	_, err := c.UpdateHealthCheck(ctx(t), &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(mi.APIHealthCheckID), FailureThreshold: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := status(); h != 0 {
		t.Errorf("a us-east-1 load balancer during its region's outage: %d checkers healthy, want 0", h)
	}
	restore()
	if h, _ := status(); h != awstest.Checkers {
		t.Errorf("after the outage: %d healthy", h)
	}
	_, err = c.GetHealthCheckStatus(ctx(t), &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String("00000000-0000-4000-8000-000000000000")})
	var nh *types.NoSuchHealthCheck
	if !errors.As(err, &nh) {
		t.Errorf("unknown health check: err = %v, want NoSuchHealthCheck", err)
	}
}

func TestUpdateHealthCheckPointsItAtAnotherEndpoint(t *testing.T) {
	s, _, _, mi := seeded(t)
	c := r53Client(s)
	const dr = "b9d7f5e3-mimir-api.us-west-2.elb.amazonaws.com"
	if err := s.SetTargetHealth(dr, 5); err != nil {
		t.Fatal(err)
	}
	up, err := c.UpdateHealthCheck(ctx(t), &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(mi.APIHealthCheckID),
		FullyQualifiedDomainName: aws.String(dr), HealthCheckVersion: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.HealthCheck.HealthCheckConfig.FullyQualifiedDomainName) != dr || aws.ToInt64(up.HealthCheck.HealthCheckVersion) != 2 {
		t.Errorf("updated = %+v", up.HealthCheck)
	}
	got, err := c.GetHealthCheck(ctx(t), &route53.GetHealthCheckInput{HealthCheckId: aws.String(mi.APIHealthCheckID)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.HealthCheck.HealthCheckConfig
	if aws.ToString(cfg.FullyQualifiedDomainName) != dr || aws.ToString(cfg.ResourcePath) != "/health" || aws.ToInt32(cfg.Port) != 443 || cfg.Type != types.HealthCheckTypeHttps {
		t.Errorf("GetHealthCheck config = %+v", cfg)
	}
	st, err := c.GetHealthCheckStatus(ctx(t), &route53.GetHealthCheckStatusInput{HealthCheckId: aws.String(mi.APIHealthCheckID)})
	if err != nil {
		t.Fatal(err)
	}
	healthy := 0
	for _, o := range st.HealthCheckObservations {
		if strings.HasPrefix(aws.ToString(o.StatusReport.Status), "Success") {
			healthy++
		}
	}
	if healthy != 5 {
		t.Errorf("the new target's health: %d checkers healthy, want 5", healthy)
	}
	_, err = c.UpdateHealthCheck(ctx(t), &route53.UpdateHealthCheckInput{HealthCheckId: aws.String(mi.APIHealthCheckID),
		IPAddress: aws.String("192.0.2.7"), HealthCheckVersion: aws.Int64(1)})
	var vm *types.HealthCheckVersionMismatch
	if !errors.As(err, &vm) {
		t.Errorf("stale version: err = %v, want HealthCheckVersionMismatch", err)
	}
	if spec, _ := s.HealthCheck(mi.APIHealthCheckID); spec.FullyQualifiedDomainName != dr || spec.Version != 2 {
		t.Errorf("server view = %+v", spec)
	}
}
