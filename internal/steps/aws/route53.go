package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// r53API is a Route 53 client of one step, with the zone it works in
// (resolved by name once).
type r53API struct {
	*client
	r53  *route53.Client
	zone Zone

	mu     sync.Mutex
	zoneID string
}

func (k *kinds) r53API(ctx context.Context, kind string, env steps.Env, callTimeout string, z Zone) (*r53API, error) {
	c, err := k.client(ctx, kind, env, callTimeout)
	if err != nil {
		return nil, err
	}
	a := &r53API{client: c, r53: route53.NewFromConfig(c.cfg), zone: z}
	if z.HostedZoneID != "" {
		a.zoneID = strings.TrimPrefix(z.HostedZoneID, "/hostedzone/")
	}
	return a, nil
}

// hostedZone returns the zone's id, looking it up by name on first use
// (`aws route53 list-hosted-zones-by-name`): no zone or more than one of
// that name is a permanent error.
func (a *r53API) hostedZone(ctx context.Context) (string, error) {
	a.mu.Lock()
	id := a.zoneID
	a.mu.Unlock()
	if id != "" {
		return id, nil
	}
	name := fqdn(a.zone.ZoneName)
	in := &route53.ListHostedZonesByNameInput{DNSName: aws.String(name)}
	var ids []string
	for {
		cctx, st, cancel := a.call(ctx, "Route 53")
		out, err := a.r53.ListHostedZonesByName(cctx, in)
		cancel()
		if err != nil {
			return "", a.fail(ctx, st, err, "route53:ListHostedZonesByName", "*", "find the hosted zone %s", name)
		}
		more := out.IsTruncated
		for _, z := range out.HostedZones {
			if fqdn(aws.ToString(z.Name)) != name {
				more = false
				break
			}
			ids = append(ids, strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/"))
		}
		if !more {
			break
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
	switch len(ids) {
	case 0:
		return "", steps.Permanentf("%s: no hosted zone is named %s (%s)", a.kind, name, a.where())
	case 1:
	default:
		return "", steps.Permanentf("%s: %d hosted zones are named %s (%s): name one by hostedZoneId", a.kind, len(ids), name, strings.Join(ids, ", "))
	}
	a.mu.Lock()
	a.zoneID = ids[0]
	a.mu.Unlock()
	return ids[0], nil
}

func (a *r53API) zoneARN(id string) string { return "arn:aws:route53:::hostedzone/" + id }

// recordSets lists the live record sets of name and type (every set
// identifier), in Route 53's order.
func (a *r53API) recordSets(ctx context.Context, name, typ string) ([]types.ResourceRecordSet, error) {
	zone, err := a.hostedZone(ctx)
	if err != nil {
		return nil, err
	}
	name = fqdn(name)
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone), StartRecordName: aws.String(name), StartRecordType: types.RRType(typ)}
	var sets []types.ResourceRecordSet
	for {
		cctx, st, cancel := a.call(ctx, "Route 53")
		out, err := a.r53.ListResourceRecordSets(cctx, in)
		cancel()
		if err != nil {
			return nil, a.fail(ctx, st, err, "route53:ListResourceRecordSets", a.zoneARN(zone), "list the records %s %s", name, typ)
		}
		for _, r := range out.ResourceRecordSets {
			if fqdn(aws.ToString(r.Name)) != name || string(r.Type) != typ {
				return sets, nil
			}
			sets = append(sets, r)
		}
		if !out.IsTruncated {
			return sets, nil
		}
		in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = out.NextRecordName, out.NextRecordType, out.NextRecordIdentifier
	}
}

// change submits one change batch and returns its id.
func (a *r53API) change(ctx context.Context, comment string, changes []types.Change) (string, error) {
	zone, err := a.hostedZone(ctx)
	if err != nil {
		return "", err
	}
	cctx, st, cancel := a.call(ctx, "Route 53")
	defer cancel()
	out, err := a.r53.ChangeResourceRecordSets(cctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone),
		ChangeBatch:  &types.ChangeBatch{Comment: aws.String(comment), Changes: changes},
	})
	if err != nil {
		return "", a.fail(ctx, st, err, "route53:ChangeResourceRecordSets", a.zoneARN(zone), "%s", comment)
	}
	return strings.TrimPrefix(aws.ToString(out.ChangeInfo.Id), "/change/"), nil
}

// insync reports whether a change is INSYNC.
func (a *r53API) insync(ctx context.Context, id string) (bool, error) {
	cctx, st, cancel := a.call(ctx, "Route 53")
	defer cancel()
	out, err := a.r53.GetChange(cctx, &route53.GetChangeInput{Id: aws.String(id)})
	if err != nil {
		return false, a.fail(ctx, st, err, "route53:GetChange", "arn:aws:route53:::change/"+id, "get change %s", id)
	}
	return out.ChangeInfo.Status == types.ChangeStatusInsync, nil
}

// waitInsync waits until the change is INSYNC (`aws route53 wait
// resource-record-sets-changed`, at the client's cadence).
func (a *r53API) waitInsync(ctx context.Context, id string) error {
	return a.waitFor(ctx, "until change "+id+" is INSYNC", func(ctx context.Context) (observation, error) {
		ok, err := a.insync(ctx, id)
		if ok {
			return observation{done: true, state: "INSYNC"}, err
		}
		return observation{state: "PENDING"}, err
	})
}

// fqdn lower-cases a DNS name, ends it with a dot and undoes Route 53's
// escape of a leading wildcard.
func fqdn(name string) string {
	name = strings.ToLower(strings.Replace(name, `\052`, "*", 1))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// sameHost compares host names as DNS does (case, trailing dot) and an
// alias to a load balancer with or without the dualstack. prefix Route 53
// adds.
func sameHost(a, b string) bool {
	a, b = strings.TrimPrefix(fqdn(a), "dualstack."), strings.TrimPrefix(fqdn(b), "dualstack.")
	return a == b
}

// sameRecord reports whether live already is want.
func sameRecord(live, want types.ResourceRecordSet) bool {
	i64 := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	if aws.ToString(live.SetIdentifier) != aws.ToString(want.SetIdentifier) || !i64(live.Weight, want.Weight) ||
		live.Failover != want.Failover || aws.ToString(live.HealthCheckId) != aws.ToString(want.HealthCheckId) {
		return false
	}
	if (live.AliasTarget == nil) != (want.AliasTarget == nil) {
		return false
	}
	if la, wa := live.AliasTarget, want.AliasTarget; la != nil {
		return strings.TrimPrefix(aws.ToString(la.HostedZoneId), "/hostedzone/") == strings.TrimPrefix(aws.ToString(wa.HostedZoneId), "/hostedzone/") &&
			sameHost(aws.ToString(la.DNSName), aws.ToString(wa.DNSName)) && la.EvaluateTargetHealth == wa.EvaluateTargetHealth
	}
	if !i64(live.TTL, want.TTL) {
		return false
	}
	norm := func(rs []types.ResourceRecord) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			v := aws.ToString(r.Value)
			if want.Type == types.RRTypeCname || want.Type == types.RRTypeNs || want.Type == types.RRTypePtr {
				v = fqdn(v)
			}
			out[i] = v
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(live.ResourceRecords), norm(want.ResourceRecords))
}

// describeRecord is a record set in a few words for summaries.
func describeRecord(r types.ResourceRecordSet) string {
	var b strings.Builder
	if a := r.AliasTarget; a != nil {
		fmt.Fprintf(&b, "alias %s", strings.TrimSuffix(aws.ToString(a.DNSName), "."))
	} else {
		vals := make([]string, len(r.ResourceRecords))
		for i, v := range r.ResourceRecords {
			vals[i] = aws.ToString(v.Value)
		}
		fmt.Fprintf(&b, "%s", strings.Join(vals, " "))
		if r.TTL != nil {
			fmt.Fprintf(&b, " ttl %d", *r.TTL)
		}
	}
	if id := aws.ToString(r.SetIdentifier); id != "" {
		b.WriteString(" [" + id)
		if r.Weight != nil {
			b.WriteString(" weight " + strconv.FormatInt(*r.Weight, 10))
		}
		if r.Failover != "" {
			b.WriteString(" " + string(r.Failover))
		}
		b.WriteString("]")
	}
	return b.String()
}

// recordSet builds a record set from a config's data.
func recordSet(name, typ string, ttl *int, values []string, alias *AliasTarget, healthCheckID string) types.ResourceRecordSet {
	r := types.ResourceRecordSet{Name: aws.String(fqdn(name)), Type: types.RRType(typ)}
	if alias != nil {
		r.AliasTarget = &types.AliasTarget{HostedZoneId: aws.String(strings.TrimPrefix(alias.HostedZoneID, "/hostedzone/")),
			DNSName: aws.String(fqdn(alias.DNSName)), EvaluateTargetHealth: alias.EvaluateTargetHealth}
	} else {
		if ttl != nil {
			r.TTL = aws.Int64(int64(*ttl))
		}
		for _, v := range values {
			r.ResourceRecords = append(r.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
		}
	}
	if healthCheckID != "" {
		r.HealthCheckId = aws.String(healthCheckID)
	}
	return r
}
