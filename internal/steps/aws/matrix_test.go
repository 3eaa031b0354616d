package aws

import (
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// kindCase is one kind with a config its Check can answer on the seeds,
// the service it calls and the IAM action of its first call.
type kindCase struct {
	kind    string
	cfg     func(l *lab) steps.Config
	region  string
	service string // the fault's service: rds, route53, …
	action  string // named by an access-denied error
	global  bool   // Route 53 and STS: faults match every region
}

func kindCases() []kindCase {
	hold := "10ms"
	return []kindCase{
		{"aws.rds.instanceStatus", func(*lab) steps.Config {
			return &InstanceStatusConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, CallTimeout: "300ms"}
		}, west, "rds", "rds:DescribeDBInstances", false},
		{"aws.rds.promoteReadReplica", func(*lab) steps.Config {
			return &PromoteReadReplicaConfig{DBInstanceIdentifier: awstest.MAIPDRReplica, CallTimeout: "300ms"}
		}, west, "rds", "rds:DescribeDBInstances", false},
		{"aws.rds.createReadReplica", func(*lab) steps.Config {
			return &CreateReadReplicaConfig{DBInstanceIdentifier: "maip-prod-postgres-other", SourceDBInstanceIdentifier: awstest.MAIPDRReplica, CallTimeout: "300ms"}
		}, west, "rds", "rds:DescribeDBInstances", false},
		{"aws.route53.upsertRecord", func(l *lab) steps.Config {
			return &UpsertRecordConfig{Zone: Zone{HostedZoneID: l.maip.ZoneID}, Name: awstest.MAIPAPIName, Type: "A", AliasTarget: drAlias, CallTimeout: "300ms"}
		}, west, "route53", "route53:ListResourceRecordSets", true},
		{"aws.route53.shiftWeights", func(l *lab) steps.Config {
			return &ShiftWeightsConfig{Zone: Zone{HostedZoneID: l.maip.ZoneID}, Name: awstest.MAIPAPIName, Type: "A",
				Records:    []WeightedRecord{{SetIdentifier: "primary", AliasTarget: primaryAlias}, {SetIdentifier: "dr", AliasTarget: drAlias}},
				Stages:     []WeightStage{{Weights: map[string]int{"primary": 10, "dr": 90}, Hold: hold}, {Weights: map[string]int{"primary": 100, "dr": 0}}},
				HealthGate: HealthGate{HealthCheckIDs: []string{l.maip.PrimaryHealthCheckID}}, CallTimeout: "300ms"}
		}, west, "route53", "route53:ListResourceRecordSets", true},
		{"aws.route53.healthCheck", func(l *lab) steps.Config {
			return &HealthCheckConfig{HealthCheckID: l.maip.PrimaryHealthCheckID, CallTimeout: "300ms"}
		}, west, "route53", "route53:GetHealthCheckStatus", true},
		{"aws.route53.updateHealthCheck", func(l *lab) steps.Config {
			return &UpdateHealthCheckConfig{HealthCheckID: l.mimir.APIHealthCheckID, ResourcePath: "/ready", CallTimeout: "300ms"}
		}, west, "route53", "route53:GetHealthCheck", true},
		{"aws.ec2.regionStatus", func(*lab) steps.Config { return &RegionStatusConfig{RegionName: west, CallTimeout: "300ms"} }, west, "ec2", "ec2:DescribeRegions", false},
		{"aws.eks.scaleNodegroup", func(*lab) steps.Config {
			return &ScaleNodegroupConfig{ClusterName: awstest.MAIPDRCluster, NodegroupName: awstest.MAIPDRNodes, DesiredSize: ptr(3), CallTimeout: "300ms"}
		}, west, "eks", "eks:DescribeNodegroup", false},
		{"aws.dynamodb.replicasActive", func(*lab) steps.Config {
			return &ReplicasActiveConfig{TableName: awstest.MAIPTable, Regions: []string{west}, CallTimeout: "300ms"}
		}, west, "dynamodb", "dynamodb:DescribeTable", false},
		{"aws.cloudwatch.metric", func(*lab) steps.Config {
			return &MetricConfig{Namespace: "AWS/RDS", MetricName: "ReplicaLag", Dimensions: map[string]string{"DBInstanceIdentifier": awstest.MAIPDRReplica}, Threshold: ptr(30.0), CallTimeout: "300ms"}
		}, west, "cloudwatch", "cloudwatch:GetMetricData", false},
		{"aws.cloudwatch.metricBelow", func(*lab) steps.Config {
			return &MetricBelowConfig{MetricConfig{Namespace: "AWS/RDS", MetricName: "ReplicaLag", Dimensions: map[string]string{"DBInstanceIdentifier": awstest.MAIPDRReplica}, Threshold: ptr(30.0), CallTimeout: "300ms"}}
		}, west, "cloudwatch", "cloudwatch:GetMetricData", false},
		{"aws.cloudwatch.alarmState", func(*lab) steps.Config {
			return &AlarmStateConfig{AlarmNames: []string{"maip-prod-api-5xx"}, CallTimeout: "300ms"}
		}, west, "cloudwatch", "cloudwatch:DescribeAlarms", false},
		{"aws.s3.newestObjectAge", func(*lab) steps.Config {
			return &NewestObjectAgeConfig{Bucket: awstest.MimirBackups, Prefix: "postgres/", MaxAge: "26h", CallTimeout: "300ms"}
		}, west, "s3", "s3:ListBucket", false},
		{"aws.msk.replicatorRunning", func(*lab) steps.Config { return &ReplicatorRunningConfig{NameContains: "maip", CallTimeout: "300ms"} }, west, "kafka", "kafka:ListReplicators", false},
		{"aws.sts.callerIdentity", func(*lab) steps.Config { return &CallerIdentityConfig{CallTimeout: "300ms"} }, west, "sts", "sts:GetCallerIdentity", true},
	}
}

// Every kind: the same answer through throttling, access denied named
// with its action and permanent, a hung API left within the call timeout
// with a transient error, a refused endpoint transient — checked on every
// kind registered.
func TestEveryKindThroughThrottlingAccessDeniedAndAHungAPI(t *testing.T) {
	cases := kindCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.kind] = true
	}
	for _, k := range Kinds() {
		if !covered[k.Name()] {
			t.Errorf("kind %s has no case here", k.Name())
		}
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			l := newLab(t, awstest.Options{})
			region := c.region
			if c.global {
				region = ""
			}
			// A fresh instance (and session) each time: the identity is
			// cached per session.
			build := func() steps.Probe { return stepstest.Build(t, register, c.kind, c.cfg(l), l.conn(c.region)) }
			clean, err := check(t, build())
			if err != nil {
				t.Fatalf("clean Check: %v", err)
			}

			f := l.Inject(awstest.Fault{Op: c.service + ":*", Region: region, Kind: awstest.FaultThrottle, Times: 2})
			res, err := check(t, build())
			if err != nil || res.Done != clean.Done || f.Hits() != 2 {
				t.Errorf("throttled twice: %+v, %v after %d throttles; want %+v", res, err, f.Hits(), clean)
			}

			f = l.Inject(awstest.Fault{Op: c.service + ":*", Region: region, Kind: awstest.FaultAccessDenied})
			res, err = check(t, build())
			wantPermanent(t, err, "access denied: "+c.action)
			stepstest.NoSecret(t, l.secret(), res, err)
			f.Remove()

			l.Inject(awstest.Fault{Op: c.service + ":*", Region: region, Kind: awstest.FaultHang})
			p := build()
			start := time.Now()
			res, err = check(t, p)
			if took := time.Since(start); took > 1300*time.Millisecond {
				t.Errorf("a hung API held Check %s (call timeout 300ms)", took)
			}
			switch {
			case c.kind == "aws.ec2.regionStatus":
				if err != nil || res.Done || !strings.Contains(res.Summary, "is down") {
					t.Errorf("hung EC2 API, expect up: %+v, %v; want not done", res, err)
				}
			default:
				wantTransient(t, err, "no answer within the call timeout 300ms")
			}

			// An endpoint that refuses connections: transient, retried by
			// the executor until the step's deadline.
			refused := l.conn(c.region)
			refused.Fields["endpoint"] = "http://" + stepstest.RefusedAddr(t)
			res, err = check(t, stepstest.Build(t, register, c.kind, c.cfg(l), refused))
			if c.kind == "aws.ec2.regionStatus" {
				if err != nil || res.Done {
					t.Errorf("refused EC2 API, expect up: %+v, %v; want not done", res, err)
				}
				return
			}
			wantTransient(t, err)
		})
	}
}
