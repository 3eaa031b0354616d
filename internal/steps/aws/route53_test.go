package aws

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// records returns the live record sets of name and type, by set identifier.
func records(t *testing.T, l *lab, zone, name, typ string) map[string]awstest.Record {
	t.Helper()
	out := map[string]awstest.Record{}
	for _, r := range l.Records(zone) {
		if r.Name == fqdn(name) && r.Type == typ {
			out[r.SetIdentifier] = r
		}
	}
	return out
}

// changeStatus reads a change with the SDK.
func changeStatus(t *testing.T, l *lab, id string) string {
	t.Helper()
	out, err := route53.NewFromConfig(l.AWSConfig(east)).GetChange(context.Background(), &route53.GetChangeInput{Id: aws.String(id)})
	if err != nil {
		t.Fatalf("get change %s: %v", id, err)
	}
	return string(out.ChangeInfo.Status)
}

var drAlias = &AliasTarget{HostedZoneID: "Z1H1FL5HABSF5", DNSName: awstest.MAIPDRALB, EvaluateTargetHealth: true}
var primaryAlias = &AliasTarget{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: awstest.MAIPPrimaryALB, EvaluateTargetHealth: true}

func TestUpsertAliasRecordInAZoneFoundByNameWaitsUntilInsync(t *testing.T) {
	l := newLab(t, awstest.Options{})
	cfg := &UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias}
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord", cfg, l.conn(west))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "is alias "+awstest.MAIPPrimaryALB) {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 10*time.Second)
	id := res.Outputs["changeId"]
	if id == "" || changeStatus(t, l, id) != "INSYNC" || !strings.Contains(res.Summary, "(INSYNC)") {
		t.Errorf("after: %+v, want a change INSYNC", res)
	}
	if got := states(l, awstest.Change(id)); got != "PENDING → INSYNC" {
		t.Errorf("change states %s", got)
	}
	r := records(t, l, l.maip.ZoneID, awstest.MAIPAPIName, "A")[""]
	if r.Alias == nil || r.Alias.DNSName != awstest.MAIPDRALB+"." || r.Alias.HostedZoneID != "Z1H1FL5HABSF5" || !r.Alias.EvaluateTargetHealth {
		t.Errorf("live record %+v, want the DR alias", r)
	}
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if n := l.Calls("route53:ChangeResourceRecordSets"); n != 1 {
		t.Errorf("%d changes, want 1", n)
	}
	fresh := stepstest.BuildStep(t, register, "aws.route53.upsertRecord", cfg, l.conn(west))
	if res := stepstest.Check(t, fresh); !res.Done || res.Outputs["changeId"] != "" {
		t.Errorf("a fresh step: %+v, want done with no change of its own", res)
	}
}

func TestUpsertCNAMEByZoneID(t *testing.T) {
	l := newLab(t, awstest.Options{})
	const dr = "b9d1e3f5-mimir-api.us-west-2.elb.amazonaws.com"
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
		&UpsertRecordConfig{Zone: Zone{HostedZoneID: l.mimir.ZoneID}, Name: awstest.MimirAPIName, Type: "CNAME", TTL: ptr(60), Values: []string{dr}}, l.conn(west))
	stepstest.Converge(t, s, 10*time.Second)
	if r := records(t, l, l.mimir.ZoneID, awstest.MimirAPIName, "CNAME")[""]; len(r.Values) != 1 || r.Values[0] != dr || *r.TTL != 60 {
		t.Errorf("live record %+v", r)
	}
}

// seedWeighted replaces the plain api record by weighted ones.
func seedWeighted(t *testing.T, l *lab, primary, dr int64) {
	t.Helper()
	zone := l.maip.ZoneID
	for _, r := range l.Records(zone) {
		if r.Name == fqdn(awstest.MAIPAPIName) && r.Type == "A" && r.SetIdentifier == "" {
			_, err := route53.NewFromConfig(l.AWSConfig(east)).ChangeResourceRecordSets(context.Background(), &route53.ChangeResourceRecordSetsInput{
				HostedZoneId: aws.String(zone), ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete,
					ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(r.Name), Type: "A", AliasTarget: &r53types.AliasTarget{
						HostedZoneId: aws.String(r.Alias.HostedZoneID), DNSName: aws.String(r.Alias.DNSName), EvaluateTargetHealth: r.Alias.EvaluateTargetHealth}}}}}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range []struct {
		id     string
		weight int64
		alias  *AliasTarget
	}{{"primary", primary, primaryAlias}, {"dr", dr, drAlias}} {
		if err := l.SeedRecord(zone, awstest.Record{Name: awstest.MAIPAPIName, Type: "A", SetIdentifier: w.id, Weight: ptr(w.weight),
			Alias: &awstest.AliasTarget{HostedZoneID: w.alias.HostedZoneID, DNSName: w.alias.DNSName + ".", EvaluateTargetHealth: true}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUpsertOnlyTheWeightKeepsTheRestOfTheRecord(t *testing.T) {
	l := newLab(t, awstest.Options{})
	seedWeighted(t, l, 10, 90)
	cfg := &UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", SetIdentifier: "primary", Weight: ptr(50)}
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord", cfg, l.conn(west))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "weight 10") {
		t.Fatalf("before: %+v", res)
	}
	stepstest.Converge(t, s, 10*time.Second)
	rs := records(t, l, l.maip.ZoneID, awstest.MAIPAPIName, "A")
	if p := rs["primary"]; *p.Weight != 50 || p.Alias == nil || p.Alias.DNSName != awstest.MAIPPrimaryALB+"." || !p.Alias.EvaluateTargetHealth {
		t.Errorf("primary %+v, want weight 50 and the same alias", p)
	}
	if d := rs["dr"]; *d.Weight != 90 {
		t.Errorf("dr %+v changed", d)
	}
	// A weight for a record that is not there cannot be given alone.
	missing := stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
		&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", SetIdentifier: "canary", Weight: ptr(1)}, l.conn(west))
	_, err := check(t, missing)
	wantPermanent(t, err, "no weighted record", "canary", "give its values or aliasTarget")
}

func TestUpsertPlainRecordReplacesWeightedOnes(t *testing.T) {
	l := newLab(t, awstest.Options{})
	seedWeighted(t, l, 100, 0)
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
		&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias}, l.conn(west))
	stepstest.Converge(t, s, 10*time.Second)
	rs := records(t, l, l.maip.ZoneID, awstest.MAIPAPIName, "A")
	if len(rs) != 1 || rs[""].Alias == nil || rs[""].Alias.DNSName != awstest.MAIPDRALB+"." {
		t.Errorf("records %+v, want only the plain DR alias", rs)
	}
}

func TestUpsertFailoverRecordsWithAHealthCheck(t *testing.T) {
	l := newLab(t, awstest.Options{})
	zone := l.mimir.ZoneID
	for _, r := range []UpsertRecordConfig{
		{Name: "db.mimir.example.com", Type: "CNAME", TTL: ptr(30), Values: []string{"db.us-east-1.example.net"}, SetIdentifier: "east", Failover: FailoverPrimary, HealthCheckID: l.mimir.APIHealthCheckID},
		{Name: "db.mimir.example.com", Type: "CNAME", TTL: ptr(30), Values: []string{"db.us-west-2.example.net"}, SetIdentifier: "west", Failover: FailoverSecondary},
	} {
		r.Zone = Zone{HostedZoneID: zone}
		stepstest.Converge(t, stepstest.BuildStep(t, register, "aws.route53.upsertRecord", &r, l.conn(west)), 10*time.Second)
	}
	rs := records(t, l, zone, "db.mimir.example.com", "CNAME")
	if rs["east"].Failover != "PRIMARY" || rs["east"].HealthCheckID != l.mimir.APIHealthCheckID || rs["west"].Failover != "SECONDARY" {
		t.Errorf("records %+v", rs)
	}
}

func TestRoute53Refusals(t *testing.T) {
	l := newLab(t, awstest.Options{})
	t.Run("no zone of that name", func(t *testing.T) {
		_, err := check(t, stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
			&UpsertRecordConfig{Zone: Zone{ZoneName: "nope.example.org"}, Name: "a.nope.example.org", Type: "A", TTL: ptr(60), Values: []string{"192.0.2.1"}}, l.conn(west)))
		wantPermanent(t, err, "no hosted zone is named nope.example.org.")
	})
	t.Run("an alias Route 53 refuses", func(t *testing.T) {
		bad := &AliasTarget{HostedZoneID: "Z35SXDOTRQ7X7K", DNSName: awstest.MAIPDRALB} // the us-east-1 zone for a us-west-2 ALB
		err := apply(t, stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
			&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: bad}, l.conn(west)))
		wantPermanent(t, err, "refused (InvalidChangeBatch)", "does not lie within the target zone")
	})
	t.Run("access denied", func(t *testing.T) {
		f := l.Inject(awstest.Fault{Op: "route53:ChangeResourceRecordSets", Kind: awstest.FaultAccessDenied, Times: 1})
		err := apply(t, stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
			&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias}, l.conn(west)))
		wantPermanent(t, err, "access denied: route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/"+l.maip.ZoneID)
		stepstest.NoSecret(t, l.secret(), steps.Result{}, err)
		if f.Hits() != 1 {
			t.Errorf("fault hit %d times", f.Hits())
		}
	})
}

func TestUpsertSurvivesPriorRequestNotComplete(t *testing.T) {
	l := newLab(t, awstest.Options{})
	f := l.Inject(awstest.Fault{Op: "route53:ChangeResourceRecordSets", Kind: awstest.FaultThrottle, Times: 3})
	g := l.Inject(awstest.Fault{Op: "route53:GetChange", Kind: awstest.FaultThrottle, Times: 2})
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
		&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias}, l.conn(west))
	res := stepstest.Converge(t, s, 10*time.Second)
	if f.Hits() != 3 || g.Hits() != 2 || changeStatus(t, l, res.Outputs["changeId"]) != "INSYNC" {
		t.Errorf("hits %d/%d, result %+v", f.Hits(), g.Hits(), res)
	}
}

func TestRoute53DeadlineAgainstAHangingAPI(t *testing.T) {
	l := newLab(t, awstest.Options{})
	l.Inject(awstest.Fault{Op: "route53:*", Kind: awstest.FaultHang})
	s := stepstest.BuildStep(t, register, "aws.route53.upsertRecord",
		&UpsertRecordConfig{Zone: Zone{ZoneName: awstest.MAIPZoneName}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias, CallTimeout: "300ms"}, l.conn(west))
	var err error
	within(t, 1300*time.Millisecond, "Check", func() { _, err = check(t, s) })
	wantTransient(t, err, "no answer within the call timeout 300ms")
	within(t, 1300*time.Millisecond, "Apply", func() { err = apply(t, s) })
	wantTransient(t, err)
	hc := stepstest.Build(t, register, "aws.route53.healthCheck", &HealthCheckConfig{HealthCheckID: l.maip.PrimaryHealthCheckID, CallTimeout: "300ms"}, l.conn(west))
	within(t, 1300*time.Millisecond, "health check", func() { _, err = check(t, hc) })
	wantTransient(t, err)
}

func TestHealthCheckByRoute53sRuleAndByCheckers(t *testing.T) {
	l := newLab(t, awstest.Options{})
	id := l.mimir.APIHealthCheckID
	healthy := stepstest.Build(t, register, "aws.route53.healthCheck", &HealthCheckConfig{HealthCheckID: id}, l.conn(west))
	unhealthy3 := stepstest.Build(t, register, "aws.route53.healthCheck", &HealthCheckConfig{HealthCheckID: id, Expect: ExpectUnhealthy, MinCheckers: ptr(3)}, l.conn(west))
	for _, tc := range []struct {
		healthyCheckers   int
		healthy, atLeast3 bool
		status            string
	}{
		{8, true, false, "healthy"},
		{6, true, false, "healthy"},
		{5, true, true, "healthy"},
		{2, true, true, "healthy"},    // 25% > 18%
		{1, false, true, "unhealthy"}, // 12.5%
		{0, false, true, "unhealthy"},
	} {
		if err := l.SetHealthyCheckers(id, tc.healthyCheckers); err != nil {
			t.Fatal(err)
		}
		res := stepstest.Check(t, healthy)
		if res.Done != tc.healthy || res.Outputs["status"] != tc.status || res.Outputs["healthyCheckers"] != strconv.Itoa(tc.healthyCheckers)+"/8" {
			t.Errorf("%d healthy checkers: %+v, want healthy %v", tc.healthyCheckers, res, tc.healthy)
		}
		if res := stepstest.Check(t, unhealthy3); res.Done != tc.atLeast3 {
			t.Errorf("%d healthy checkers, unhealthy in at least 3: %+v, want %v", tc.healthyCheckers, res, tc.atLeast3)
		}
	}
	// A dead region: its load balancers' checks fail everywhere (an
	// update resets the checkers set by hand).
	if _, err := route53.NewFromConfig(l.AWSConfig(east)).UpdateHealthCheck(context.Background(),
		&route53.UpdateHealthCheckInput{HealthCheckId: aws.String(id), Port: aws.Int32(443)}); err != nil {
		t.Fatal(err)
	}
	restore := l.RegionOutage(east)
	res := stepstest.Check(t, stepstest.Build(t, register, "aws.route53.healthCheck", &HealthCheckConfig{HealthCheckID: id, Expect: ExpectUnhealthy}, l.conn(west)))
	restore()
	if !res.Done || res.Outputs["healthyCheckers"] != "0/8" {
		t.Errorf("during the outage of us-east-1: %+v, want unhealthy 0/8", res)
	}
	_, err := check(t, stepstest.Build(t, register, "aws.route53.healthCheck", &HealthCheckConfig{HealthCheckID: "00000000-0000-4000-8000-000000000000"}, l.conn(west)))
	wantPermanent(t, err, "no health check 00000000-0000-4000-8000-000000000000")
}

func TestUpdateHealthCheckToTheDREndpoint(t *testing.T) {
	l := newLab(t, awstest.Options{})
	id := l.mimir.APIHealthCheckID
	const dr = "b9d1e3f5-mimir-api.us-west-2.elb.amazonaws.com"
	s := stepstest.BuildStep(t, register, "aws.route53.updateHealthCheck", &UpdateHealthCheckConfig{HealthCheckID: id, FullyQualifiedDomainName: dr}, l.conn(west))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "(is "+awstest.MimirPrimaryAPILB+")") {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 10*time.Second)
	hc, _ := l.HealthCheck(id)
	if hc.FullyQualifiedDomainName != dr || hc.Version != 2 || hc.ResourcePath != "/health" || !strings.Contains(res.Summary, dr+":443/health") {
		t.Errorf("after: %+v (%s)", hc, res.Summary)
	}
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if hc, _ := l.HealthCheck(id); hc.Version != 2 {
		t.Errorf("a second Apply updated it again: version %d", hc.Version)
	}
}
