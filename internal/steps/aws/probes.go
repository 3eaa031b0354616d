package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kafka"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// RegionStatus is an aws.ec2.regionStatus probe.
type RegionStatus struct {
	c   *client
	ec2 *ec2.Client
	cfg RegionStatusConfig
}

var _ steps.Probe = (*RegionStatus)(nil)

func (k *kinds) newRegionStatus(ctx context.Context, cfg *RegionStatusConfig, env steps.Env) (steps.Probe, error) {
	c, err := k.client(ctx, "aws.ec2.regionStatus", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &RegionStatus{c: c, ec2: ec2.NewFromConfig(c.cfg), cfg: *cfg}, nil
}

// Check describes the region on the connection's EC2 endpoint. Up: it
// answers within the call timeout and lists the region enabled. Down: it
// does not answer (or only with 5xx), or lists the region not opted in.
// Access denied and bad credentials are permanent errors either way: they
// say nothing of the region.
func (p *RegionStatus) Check(ctx context.Context) (steps.Result, error) {
	name := p.cfg.RegionName
	out := map[string]string{"optInStatus": ""}
	if err := p.c.verify(ctx); err != nil && (p.cfg.Expect == ExpectUp || steps.IsPermanent(err)) {
		return steps.Result{Outputs: out}, err
	}
	cctx, st, cancel := p.c.call(ctx, "EC2")
	defer cancel()
	res, err := p.ec2.DescribeRegions(cctx, &ec2.DescribeRegionsInput{RegionNames: []string{name}, AllRegions: aws.Bool(true)})
	state, why := ExpectUp, ""
	switch {
	case err != nil && (unreachable(ctx, st, err) || serverFailure(err)):
		state, why = ExpectDown, fmt.Sprintf("the EC2 API in %s does not answer (within %s)", p.c.region, p.c.timeout)
		if serverFailure(err) {
			why = fmt.Sprintf("the EC2 API in %s answers only with errors (%s)", p.c.region, apiCode(err))
		}
	case err != nil:
		return steps.Result{Outputs: out}, p.c.fail(ctx, st, err, "ec2:DescribeRegions", "*", "describe region %s", name)
	case len(res.Regions) == 0:
		return steps.Result{Outputs: out}, steps.Permanentf("%s: EC2 does not know the region %s (%s)", p.c.kind, name, p.c.where())
	default:
		out["optInStatus"] = aws.ToString(res.Regions[0].OptInStatus)
		if out["optInStatus"] == "not-opted-in" {
			state, why = ExpectDown, fmt.Sprintf("%s is not enabled for the account (not-opted-in)", name)
		} else {
			why = fmt.Sprintf("the EC2 API in %s answers and lists %s (%s)", p.c.region, name, out["optInStatus"])
		}
	}
	summary := fmt.Sprintf("region %s is %s: %s", name, state, why)
	if state != p.cfg.Expect {
		summary += " (expected " + p.cfg.Expect + ")"
	}
	return steps.Result{Done: state == p.cfg.Expect, Summary: summary, Outputs: out}, nil
}

// ReplicasActive is an aws.dynamodb.replicasActive probe.
type ReplicasActive struct {
	c   *client
	ddb *dynamodb.Client
	cfg ReplicasActiveConfig
}

var _ steps.Probe = (*ReplicasActive)(nil)

func (k *kinds) newReplicasActive(ctx context.Context, cfg *ReplicasActiveConfig, env steps.Env) (steps.Probe, error) {
	c, err := k.client(ctx, "aws.dynamodb.replicasActive", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &ReplicasActive{c: c, ddb: dynamodb.NewFromConfig(c.cfg), cfg: *cfg}, nil
}

// Check describes the table in the connection's region: the table's own
// region is its TableStatus, the others its replicas' ReplicaStatus.
func (p *ReplicasActive) Check(ctx context.Context) (steps.Result, error) {
	if err := p.c.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	t := p.cfg.TableName
	cctx, st, cancel := p.c.call(ctx, "DynamoDB")
	defer cancel()
	out, err := p.ddb.DescribeTable(cctx, &dynamodb.DescribeTableInput{TableName: aws.String(t)})
	if err != nil {
		if apiCode(err) == "ResourceNotFoundException" {
			return steps.Result{}, steps.Permanentf("%s: no DynamoDB table %s (%s)", p.c.kind, t, p.c.where())
		}
		return steps.Result{}, p.c.fail(ctx, st, err, "dynamodb:DescribeTable", fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", p.c.region, p.c.account(), t), "describe table %s", t)
	}
	status := map[string]string{p.c.region: string(out.Table.TableStatus)}
	for _, r := range out.Table.Replicas {
		status[aws.ToString(r.RegionName)] = string(r.ReplicaStatus)
	}
	var all, off []string
	for _, r := range p.cfg.Regions {
		st := status[r]
		if st == "" {
			st = "NONE"
		}
		all = append(all, r+"="+st)
		if st != "ACTIVE" {
			off = append(off, r+" "+st)
		}
	}
	res := steps.Result{Outputs: map[string]string{"replicas": strings.Join(all, ",")}}
	if len(off) > 0 {
		res.Summary = fmt.Sprintf("table %s: replica %s (expected ACTIVE)", t, strings.Join(off, ", "))
		return res, nil
	}
	res.Done, res.Summary = true, fmt.Sprintf("table %s: replicas ACTIVE in %s", t, strings.Join(p.cfg.Regions, ", "))
	return res, nil
}

// NewestObjectAge is an aws.s3.newestObjectAge probe.
type NewestObjectAge struct {
	c   *client
	s3  *s3.Client
	cfg NewestObjectAgeConfig
}

var _ steps.Probe = (*NewestObjectAge)(nil)

func (k *kinds) newNewestObjectAge(ctx context.Context, cfg *NewestObjectAgeConfig, env steps.Env) (steps.Probe, error) {
	c, err := k.client(ctx, "aws.s3.newestObjectAge", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	cl := s3.NewFromConfig(c.cfg, func(o *s3.Options) { o.UsePathStyle = c.endpoint != "" })
	return &NewestObjectAge{c: c, s3: cl, cfg: *cfg}, nil
}

// Check lists the objects under the prefix (every page, each under the
// call timeout) and finds the newest.
func (p *NewestObjectAge) Check(ctx context.Context) (steps.Result, error) {
	if err := p.c.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	b, prefix := p.cfg.Bucket, p.cfg.Prefix
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var newest time.Time
	var key string
	n := 0
	for {
		cctx, st, cancel := p.c.call(ctx, "S3")
		out, err := p.s3.ListObjectsV2(cctx, in)
		cancel()
		if err != nil {
			if apiCode(err) == "NoSuchBucket" {
				return steps.Result{}, steps.Permanentf("%s: no S3 bucket %s (%s)", p.c.kind, b, p.c.where())
			}
			return steps.Result{}, p.c.fail(ctx, st, err, "s3:ListBucket", "arn:aws:s3:::"+b, "list s3://%s/%s", b, prefix)
		}
		for _, o := range out.Contents {
			n++
			if t := aws.ToTime(o.LastModified); t.After(newest) {
				newest, key = t, aws.ToString(o.Key)
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	where := fmt.Sprintf("s3://%s/%s", b, prefix)
	if n == 0 {
		return steps.Result{Outputs: map[string]string{"key": "", "age": ""}, Summary: fmt.Sprintf("no object under %s (expected one at most %s old)", where, p.cfg.MaxAge)}, nil
	}
	age := p.c.now().Sub(newest).Round(time.Second)
	max := steps.ParseDuration(p.cfg.MaxAge)
	res := steps.Result{Done: age <= max, Outputs: map[string]string{"key": key, "age": age.String()},
		Summary: fmt.Sprintf("newest of %d objects under %s is %s, %s old", n, where, key, age)}
	if !res.Done {
		res.Summary += fmt.Sprintf(" (expected at most %s)", p.cfg.MaxAge)
	}
	return res, nil
}

// ReplicatorRunning is an aws.msk.replicatorRunning probe.
type ReplicatorRunning struct {
	c     *client
	kafka *kafka.Client
	cfg   ReplicatorRunningConfig
}

var _ steps.Probe = (*ReplicatorRunning)(nil)

func (k *kinds) newReplicatorRunning(ctx context.Context, cfg *ReplicatorRunningConfig, env steps.Env) (steps.Probe, error) {
	c, err := k.client(ctx, "aws.msk.replicatorRunning", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &ReplicatorRunning{c: c, kafka: kafka.NewFromConfig(c.cfg), cfg: *cfg}, nil
}

// Check lists the replicators of the region (those it holds and the
// references to those replicating from it) and matches them by name. The
// MSK API gives no replication lag: it is the ReplicationLatency and
// MessageLag metrics of AWS/Kafka (aws.cloudwatch.metric).
func (p *ReplicatorRunning) Check(ctx context.Context) (steps.Result, error) {
	if err := p.c.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	in := &kafka.ListReplicatorsInput{}
	if p.cfg.Name != "" {
		in.ReplicatorNameFilter = aws.String(p.cfg.Name)
	}
	var all, off []string
	for {
		cctx, st, cancel := p.c.call(ctx, "MSK")
		out, err := p.kafka.ListReplicators(cctx, in)
		cancel()
		if err != nil {
			return steps.Result{}, p.c.fail(ctx, st, err, "kafka:ListReplicators", fmt.Sprintf("arn:aws:kafka:%s:%s:replicator/*", p.c.region, p.c.account()), "list the MSK replicators")
		}
		for _, r := range out.Replicators {
			name := aws.ToString(r.ReplicatorName)
			if (p.cfg.Name != "" && name != p.cfg.Name) || (p.cfg.NameContains != "" && !strings.Contains(name, p.cfg.NameContains)) {
				continue
			}
			all = append(all, name+"="+string(r.ReplicatorState))
			if r.ReplicatorState != "RUNNING" {
				off = append(off, name+" "+string(r.ReplicatorState))
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	match := p.cfg.Name
	if match == "" {
		match = "*" + p.cfg.NameContains + "*"
	}
	res := steps.Result{Outputs: map[string]string{"replicators": strings.Join(all, ",")}}
	switch {
	case len(all) < *p.cfg.MinCount:
		res.Summary = fmt.Sprintf("%d MSK replicators match %s in %s (expected at least %d)", len(all), match, p.c.region, *p.cfg.MinCount)
	case len(off) > 0:
		res.Summary = fmt.Sprintf("MSK replicators not RUNNING: %s", strings.Join(off, ", "))
	default:
		res.Done, res.Summary = true, fmt.Sprintf("%s RUNNING in %s: %s", plural(len(all), "MSK replicator"), p.c.region, strings.Join(all, ", "))
	}
	return res, nil
}
