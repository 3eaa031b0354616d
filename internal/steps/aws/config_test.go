package aws

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// validateCase decodes with (strictly, as the loader does) into the kind's
// config and expects exactly the field errors in want (nil: valid).
type validateCase struct {
	name string
	kind string
	with string
	want []string
}

func runValidate(t *testing.T, tests []validateCase) {
	t.Helper()
	byName := map[string]steps.Kind{}
	for _, k := range Kinds() {
		byName[k.Name()] = k
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := byName[tt.kind]
			if !ok {
				t.Fatalf("no kind %s", tt.kind)
			}
			got := stepstest.Validate(t, k, tt.with)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

const hc = "abcdef01-2345-6789-abcd-ef0123456789"

func TestValidateRDS(t *testing.T) {
	runValidate(t, []validateCase{
		{name: "promote a replica", kind: "aws.rds.promoteReadReplica", with: "{dbInstanceIdentifier: maip-prod-postgres-replica, backupRetentionPeriod: 7}"},
		{name: "promote: bad identifiers are named precisely", kind: "aws.rds.promoteReadReplica", with: "{dbInstanceIdentifier: 1db--x-, backupRetentionPeriod: 36}",
			want: []string{
				`dbInstanceIdentifier: must be a DB instance identifier (1–63 letters, digits, hyphens; a letter first; no -- or trailing -), got "1db--x-"`,
				"backupRetentionPeriod: must be between 0 and 35 days, got 36",
			}},
		{name: "promote: identifier missing", kind: "aws.rds.promoteReadReplica", with: "{callTimeout: 0s}",
			want: []string{"dbInstanceIdentifier: is required", "callTimeout: must be > 0, got 0s"}},
		{name: "status of a dead primary", kind: "aws.rds.instanceStatus", with: "{dbInstanceIdentifier: maip-prod-postgres, expect: unavailable}"},
		{name: "status: replica check needs expect available", kind: "aws.rds.instanceStatus",
			with: "{dbInstanceIdentifier: a, expect: unavailable, readReplica: true}",
			want: []string{"readReplica: only applies with expect: available"}},
		{name: "status: unknown expectation", kind: "aws.rds.instanceStatus", with: "{dbInstanceIdentifier: a, expect: deleted}",
			want: []string{`expect: must be one of available, unavailable, got "deleted"`}},
		{name: "cross-region replica from an ARN", kind: "aws.rds.createReadReplica",
			with: "{dbInstanceIdentifier: maip-prod-postgres-new, sourceDbInstanceIdentifier: 'arn:aws:rds:us-west-2:123456789012:db:maip-prod-postgres-replica', sourceRegion: us-west-2, dbInstanceClass: db.r6g.large}"},
		{name: "cross-region replica with a templated account", kind: "aws.rds.createReadReplica",
			with: `{dbInstanceIdentifier: n, sourceDbInstanceIdentifier: "arn:aws:rds:us-west-2:${env:ACCOUNT}:db:r", sourceRegion: us-west-2}`},
		{name: "same-region replica by name", kind: "aws.rds.createReadReplica", with: "{dbInstanceIdentifier: b, sourceDbInstanceIdentifier: a}"},
		{name: "cross-region replica by plain name (as the seed wrote it)", kind: "aws.rds.createReadReplica",
			with: "{dbInstanceIdentifier: maip-prod-postgres-new, sourceDbInstanceIdentifier: maip-prod-postgres-replica, sourceRegion: us-west-2}",
			want: []string{`sourceDbInstanceIdentifier: must be the source's ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME) when sourceRegion is set, got "maip-prod-postgres-replica"`}},
		{name: "replica: not an RDS ARN, bad region and class", kind: "aws.rds.createReadReplica",
			with: "{dbInstanceIdentifier: n, sourceDbInstanceIdentifier: 'arn:aws:s3:::bucket', sourceRegion: west, dbInstanceClass: r6g.large}",
			want: []string{
				`sourceDbInstanceIdentifier: must be an RDS DB instance ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME), got "arn:aws:s3:::bucket"`,
				`sourceRegion: must be an AWS region such as us-west-2, got "west"`,
				`dbInstanceClass: must be an instance class such as db.r6g.large, got "r6g.large"`,
			}},
		{name: "replica: nothing", kind: "aws.rds.createReadReplica", with: "{}",
			want: []string{"dbInstanceIdentifier: is required", "sourceDbInstanceIdentifier: is required"}},
	})
}

func TestValidateRoute53(t *testing.T) {
	runValidate(t, []validateCase{
		{name: "CNAME to a templated load balancer", kind: "aws.route53.upsertRecord",
			with: `{hostedZoneId: Z1234567890ABC, name: api.mimir.example.com, type: CNAME, ttl: 60, values: ["{{ .steps.lb.outputs.hostname }}"]}`},
		{name: "alias A in a zone found by name", kind: "aws.route53.upsertRecord",
			with: "{zoneName: maip.example.com, name: api.maip.example.com, type: A, aliasTarget: {hostedZoneId: Z1H1FL5HABSF5, dnsName: x.us-west-2.elb.amazonaws.com, evaluateTargetHealth: true}}"},
		{name: "weighted A record", kind: "aws.route53.upsertRecord",
			with: "{hostedZoneId: /hostedzone/Z1, name: a.example.com, type: A, ttl: 60, values: [192.0.2.1], setIdentifier: dr, weight: 0}"},
		{name: "zone given twice, CNAME with two values and no ttl", kind: "aws.route53.upsertRecord",
			with: "{hostedZoneId: Z1, zoneName: example.com, name: a.example.com, type: CNAME, values: [a.example.net, b.example.net]}",
			want: []string{"hostedZoneId: at most one of hostedZoneId, zoneName", "ttl: is required with values", "values: a CNAME record has exactly one value, got 2"}},
		{name: "alias with ttl and values", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, ttl: 60, values: [192.0.2.1], aliasTarget: {hostedZoneId: Z2, dnsName: lb.example.net}}",
			want: []string{"values: at most one of values, aliasTarget", "ttl: is not allowed with aliasTarget (the alias target's TTL applies)"}},
		{name: "bad zone id, type, A value, weight", kind: "aws.route53.upsertRecord",
			with: "{hostedZoneId: zone1, name: 'a b', type: CNAMEX, ttl: -1, values: ['2001:db8::1'], weight: 300}",
			want: []string{
				`hostedZoneId: must be a hosted zone id such as Z1234567890ABC, got "zone1"`,
				`name: must be a domain name, got "a b"`,
				`type: must be one of A, AAAA, CAA, CNAME, MX, NAPTR, NS, PTR, SPF, SRV, TXT, got "CNAMEX"`,
				"ttl: must be between 0 and 2147483647, got -1",
				"weight: must be between 0 and 255, got 300",
				"setIdentifier: is required with weight or failover",
			}},
		{name: "IPv6 in an A record", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, ttl: 60, values: ['2001:db8::1']}",
			want: []string{`values[0]: must be an IPv4 address, got "2001:db8::1"`}},
		{name: "nothing at all", kind: "aws.route53.upsertRecord", with: "{}",
			want: []string{"hostedZoneId: one of hostedZoneId, zoneName is required", "name: is required", "type: is required", "values: one of values, aliasTarget is required"}},
		{name: "CNAME alias", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: CNAME, aliasTarget: {hostedZoneId: Z2}}",
			want: []string{"aliasTarget.dnsName: is required", "aliasTarget: a CNAME record cannot be an alias; use type A or AAAA"}},
		{name: "health check status", kind: "aws.route53.healthCheck", with: "{healthCheckId: " + hc + ", expect: unhealthy}"},
		{name: "templated health check id", kind: "aws.route53.healthCheck", with: `{healthCheckId: "${env:HC}"}`},
		{name: "health check: placeholder id and bad expect", kind: "aws.route53.healthCheck", with: "{healthCheckId: '<health-check-id>', expect: green}",
			want: []string{
				`healthCheckId: must be a health check id (a UUID such as abcdef01-2345-6789-abcd-ef0123456789), got "<health-check-id>"`,
				`expect: must be one of healthy, unhealthy, got "green"`,
			}},
		{name: "update a health check's address", kind: "aws.route53.updateHealthCheck", with: "{healthCheckId: " + hc + ", ipAddress: 192.0.2.7, port: 443, resourcePath: /health}"},
		{name: "update: nothing to change", kind: "aws.route53.updateHealthCheck", with: "{healthCheckId: " + hc + "}",
			want: []string{"ipAddress: one of ipAddress, fullyQualifiedDomainName, port, resourcePath is required"}},
		{name: "update: bad ip, port, path", kind: "aws.route53.updateHealthCheck", with: "{healthCheckId: " + hc + ", ipAddress: 300.1.1.1, port: 0, resourcePath: health}",
			want: []string{`ipAddress: is not an IP address: "300.1.1.1"`, "port: must be between 1 and 65535, got 0", `resourcePath: must start with /, got "health"`}},
	})
}

const shiftOK = `
zoneName: maip.example.com
name: api.maip.example.com
type: A
records:
  - {setIdentifier: primary, aliasTarget: {hostedZoneId: Z35SXDOTRQ7X7K, dnsName: a.us-east-1.elb.amazonaws.com}}
  - {setIdentifier: dr, aliasTarget: {hostedZoneId: Z1H1FL5HABSF5, dnsName: b.us-west-2.elb.amazonaws.com}}
stages:
  - {weights: {primary: 10, dr: 90}, hold: 10m}
  - {weights: {primary: 100, dr: 0}}
healthGate: {healthCheckIds: [` + hc + `]}
`

func TestValidateShiftWeights(t *testing.T) {
	runValidate(t, []validateCase{
		{name: "alias records, two stages, health gate", kind: "aws.route53.shiftWeights", with: shiftOK},
		{name: "a hold on the last stage is refused: nothing follows it", kind: "aws.route53.shiftWeights",
			with: strings.Replace(shiftOK, "{weights: {primary: 100, dr: 0}}", "{weights: {primary: 100, dr: 0}, hold: 10m}", 1),
			want: []string{"stages[1].hold: the last stage has no hold: no stage follows it (the step is done when its weights are live)"}},
		{name: "CNAME records with a ttl and an alarm gate", kind: "aws.route53.shiftWeights", with: `
hostedZoneId: Z1234567890ABC
name: api.mimir.example.com
type: CNAME
ttl: 60
records:
  - {setIdentifier: primary, values: ["{{ .steps.p.outputs.hostname }}"]}
  - {setIdentifier: dr, values: [dr-lb.example.net]}
stages: [{weights: {primary: 50, dr: 50}}]
healthGate: {alarmNames: [api-5xx]}
`},
		{name: "one record, no stages, no gate", kind: "aws.route53.shiftWeights", with: `
zoneName: example.com
name: a.example.com
type: A
records: [{setIdentifier: only, values: [192.0.2.1]}]
`,
			want: []string{
				"records: at least two weighted records are required, got 1",
				"ttl: is required with values",
				"stages: at least one stage is required",
				"healthGate: at least one of healthCheckIds, alarmNames, httpChecks, metrics is required: a shift without a health gate is not gradual",
			}},
		{name: "stage weights that do not match the records", kind: "aws.route53.shiftWeights", with: `
zoneName: example.com
name: a.example.com
type: A
records:
  - {setIdentifier: primary, aliasTarget: {hostedZoneId: Z1, dnsName: a.example.net}}
  - {setIdentifier: primary, aliasTarget: {hostedZoneId: Z2, dnsName: b.example.net}}
stages:
  - {weights: {primary: 0, secondary: 0}, hold: forever}
  - {weights: {primary: 256}}
healthGate: {healthCheckIds: ['']}
`,
			want: []string{
				`records[1].setIdentifier: duplicate set identifier "primary"`,
				`stages[0].hold: is not a duration (like 10s, 5m), got "forever"`,
				"stages[0].weights.secondary: is not the setIdentifier of a record",
				"stages[0].weights: must not all be 0 (Route 53 would then spread traffic evenly)",
				"stages[1].weights.primary: must be between 0 and 255, got 256",
				"healthGate.healthCheckIds[0]: is required",
			}},
		{name: "a stage missing a record's weight; ttl on alias records", kind: "aws.route53.shiftWeights", with: `
zoneName: example.com
name: a.example.com
type: A
ttl: 60
records:
  - {setIdentifier: primary, aliasTarget: {hostedZoneId: Z1, dnsName: a.example.net}}
  - {setIdentifier: dr, aliasTarget: {hostedZoneId: Z2, dnsName: b.example.net}}
stages: [{weights: {primary: 10}}]
healthGate: {alarmNames: [x]}
`,
			want: []string{
				"ttl: is not allowed with alias records (the alias target's TTL applies)",
				`stages[0].weights: missing a weight for "dr"`,
			}},
	})
}

func TestValidateRegionNodegroupAndProbes(t *testing.T) {
	runValidate(t, []validateCase{
		{name: "region must be gone", kind: "aws.ec2.regionStatus", with: "{regionName: us-east-1, expect: down}"},
		{name: "region: missing and bad expect", kind: "aws.ec2.regionStatus", with: "{expect: maybe}",
			want: []string{"regionName: is required", `expect: must be one of up, down, got "maybe"`}},
		{name: "node group as in the seed", kind: "aws.eks.scaleNodegroup",
			with: "{clusterName: maip-prod-dr-eks-cluster, nodegroupName: maip-prod-dr-nodegroup, minSize: 4, maxSize: 20, desiredSize: 8}"},
		{name: "node group: desired outside min..max", kind: "aws.eks.scaleNodegroup",
			with: "{clusterName: c, nodegroupName: n, minSize: 4, maxSize: 20, desiredSize: 21}",
			want: []string{"desiredSize: must be ≤ maxSize (20), got 21"}},
		{name: "node group: min above max, negative desired, max 0", kind: "aws.eks.scaleNodegroup",
			with: "{clusterName: c, nodegroupName: n, minSize: 5, maxSize: 0, desiredSize: -1}",
			want: []string{
				"maxSize: must be ≥ 1, got 0",
				"desiredSize: must be ≥ 0, got -1",
				"minSize: must be ≤ maxSize (0), got 5",
				"desiredSize: must be ≥ minSize (5), got -1",
			}},
		{name: "node group: no sizes, no names", kind: "aws.eks.scaleNodegroup", with: "{}",
			want: []string{"clusterName: is required", "nodegroupName: is required", "desiredSize: one of minSize, maxSize, desiredSize is required"}},
		{name: "global table replicas", kind: "aws.dynamodb.replicasActive", with: "{tableName: maip-prod-merchant-analytics, regions: [us-east-1, us-west-2]}"},
		{name: "global table: bad name, duplicate and bad regions", kind: "aws.dynamodb.replicasActive", with: "{tableName: 'x!', regions: [us-east-1, us-east-1, mars]}",
			want: []string{
				`tableName: must be a DynamoDB table name (3–255 of A-Z a-z 0-9 _ . -), got "x!"`,
				`regions[1]: duplicate region "us-east-1"`,
				`regions[2]: must be an AWS region such as us-west-2, got "mars"`,
			}},
		{name: "global table: no regions", kind: "aws.dynamodb.replicasActive", with: "{tableName: abc}",
			want: []string{"regions: at least one region is required"}},
		{name: "replication latency as in the seed", kind: "aws.cloudwatch.metricBelow",
			with: "{namespace: AWS/DynamoDB, metricName: ReplicationLatency, dimensions: {TableName: t, ReceivingRegion: us-west-2}, period: 5m, window: 1h, threshold: 5000}"},
		{name: "metric: no threshold, odd period, window shorter than it", kind: "aws.cloudwatch.metricBelow",
			with: "{namespace: AWS/RDS, metricName: ReplicaLag, statistic: p99, period: 90s, window: 1m, missing: ignore, dimensions: {DBInstanceIdentifier: ''}}",
			want: []string{
				"dimensions.DBInstanceIdentifier: must not be empty",
				`statistic: must be one of Average, Sum, Minimum, Maximum, SampleCount, got "p99"`,
				"period: must be 1s, 5s, 10s, 30s or a multiple of 60s, got 90s",
				"window: must be at least one period (90s), got 1m",
				"threshold: is required",
				`missing: must be one of fail, ok, got "ignore"`,
			}},
		{name: "metric: sub-second period", kind: "aws.cloudwatch.metricBelow", with: "{namespace: a, metricName: b, threshold: 1, period: 500ms}",
			want: []string{"period: must be ≥ 1s, got 500ms"}},
		{name: "newest backup", kind: "aws.s3.newestObjectAge", with: "{bucket: mimir-backups-dr, prefix: postgres/, maxAge: 26h}"},
		{name: "backup: bad bucket, leading slash, no max age", kind: "aws.s3.newestObjectAge", with: "{bucket: Mimir_Backups, prefix: /postgres/}",
			want: []string{
				`bucket: must be an S3 bucket name (3–63 of a-z 0-9 . -), got "Mimir_Backups"`,
				`prefix: must not start with / (S3 keys have no leading slash), got "/postgres/"`,
				"maxAge: is required",
			}},
		{name: "replicators by substring", kind: "aws.msk.replicatorRunning", with: "{nameContains: maip}"},
		{name: "replicators: name and substring, zero count", kind: "aws.msk.replicatorRunning", with: "{name: a, nameContains: b, minCount: 0}",
			want: []string{"name: at most one of name, nameContains", "minCount: must be ≥ 1, got 0"}},
	})
}

func TestRegister(t *testing.T) {
	r := steps.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	ct, ok := r.ConnectionType("aws")
	if !ok || !slices.Equal(ct.Optional, []string{"region", "profile", "endpoint", "accessKeyId", "secretAccessKey", "sessionToken", "roleArn", "externalId", "accountId"}) || ct.Check == nil || len(ct.Required) != 0 {
		t.Errorf("connection type = %+v", ct)
	}
	want := map[string]struct {
		readOnly bool
		outputs  []string
	}{
		"aws.rds.promoteReadReplica":    {false, []string{"endpoint", "port"}},
		"aws.rds.instanceStatus":        {true, []string{"status", "endpoint", "replicaSource"}},
		"aws.rds.createReadReplica":     {false, []string{"endpoint", "arn"}},
		"aws.route53.upsertRecord":      {false, []string{"changeId"}},
		"aws.route53.shiftWeights":      {false, []string{"weights", "stage"}},
		"aws.route53.healthCheck":       {true, []string{"status", "healthyCheckers"}},
		"aws.route53.updateHealthCheck": {false, nil},
		"aws.ec2.regionStatus":          {true, []string{"optInStatus"}},
		"aws.eks.scaleNodegroup":        {false, []string{"minSize", "maxSize", "desiredSize", "previousMinSize", "previousMaxSize", "previousDesiredSize"}},
		"aws.dynamodb.replicasActive":   {true, []string{"replicas"}},
		"aws.cloudwatch.metricBelow":    {true, []string{"value", "timestamp"}},
		"aws.cloudwatch.metric":         {true, []string{"value", "timestamp"}},
		"aws.cloudwatch.alarmState":     {true, []string{"states"}},
		"aws.sts.callerIdentity":        {true, []string{"account", "arn", "credentials"}},
		"aws.s3.newestObjectAge":        {true, []string{"key", "age"}},
		"aws.msk.replicatorRunning":     {true, []string{"replicators"}},
	}
	if got := len(r.Kinds()); got != len(want) {
		t.Errorf("%d kinds registered, want %d: %v", got, len(want), r.Kinds())
	}
	for name, w := range want {
		k, ok := r.Kind(name)
		if !ok {
			t.Errorf("%s not registered", name)
			continue
		}
		if k.ReadOnly() != w.readOnly || !slices.Equal(k.Outputs(), w.outputs) || k.Connection() != "aws" {
			t.Errorf("%s: ReadOnly %v outputs %v connection %q; want %v %v aws", name, k.ReadOnly(), k.Outputs(), k.Connection(), w.readOnly, w.outputs)
		}
	}
	if err := Register(r); err == nil {
		t.Error("registering twice succeeded; want a collision error")
	}
}

func TestShiftWeightsDefaults(t *testing.T) {
	c := &ShiftWeightsConfig{}
	dec := yaml.NewDecoder(bytes.NewBufferString(shiftOK))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	holds := c.Holds()
	if len(holds) != 2 || holds[0].String() != "10m0s" || holds[1] != 0 {
		t.Errorf("holds = %v, want [10m 0 (the last stage has none)]", holds)
	}
	if c.CallTimeout != DefaultCallTimeout {
		t.Errorf("callTimeout = %q", c.CallTimeout)
	}
}

func TestValidateNewFields(t *testing.T) {
	runValidate(t, []validateCase{
		{name: "a weight alone changes a live weighted record", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, setIdentifier: primary, weight: 50}"},
		{name: "a weight alone with a ttl and a health check", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, setIdentifier: primary, weight: 50, ttl: 60, healthCheckId: " + hc + "}",
			want: []string{
				"ttl: is not allowed when only the weight changes (the live record keeps its own)",
				"healthCheckId: is not allowed when only the weight changes (the live record keeps its own)",
			}},
		{name: "a failover record", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: CNAME, ttl: 60, values: [x.example.net], setIdentifier: east, failover: PRIMARY, healthCheckId: " + hc + "}"},
		{name: "failover and weight, a bad role, no set identifier", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, ttl: 60, values: [192.0.2.1], weight: 1, failover: TERTIARY, healthCheckId: x}",
			want: []string{
				`failover: must be one of PRIMARY, SECONDARY, got "TERTIARY"`,
				"weight: at most one of weight, failover",
				`healthCheckId: must be a health check id (a UUID such as abcdef01-2345-6789-abcd-ef0123456789), got "x"`,
			}},
		{name: "a set identifier without a routing policy", kind: "aws.route53.upsertRecord",
			with: "{zoneName: example.com, name: a.example.com, type: A, ttl: 60, values: [192.0.2.1], setIdentifier: a}",
			want: []string{"weight: one of weight, failover is required with setIdentifier"}},
		{name: "unhealthy in at least 3 checkers", kind: "aws.route53.healthCheck", with: "{healthCheckId: " + hc + ", expect: unhealthy, minCheckers: 3}"},
		{name: "zero checkers", kind: "aws.route53.healthCheck", with: "{healthCheckId: " + hc + ", minCheckers: 0}",
			want: []string{"minCheckers: must be between 1 and 64, got 0"}},
		{name: "ALB 5xx above 100 over 5 minutes", kind: "aws.cloudwatch.metric",
			with: "{namespace: AWS/ApplicationELB, metricName: HTTPCode_Target_5XX_Count, statistic: Sum, period: 5m, window: 5m, comparison: above, threshold: 100, missing: ok}"},
		{name: "metric: a comparison CloudWatch spells otherwise", kind: "aws.cloudwatch.metric",
			with: "{namespace: a, metricName: b, comparison: GreaterThanThreshold, threshold: 1}",
			want: []string{`comparison: must be one of above, atOrAbove, below, atOrBelow, got "GreaterThanThreshold"`}},
		{name: "metricBelow compares below only", kind: "aws.cloudwatch.metricBelow",
			with: "{namespace: a, metricName: b, comparison: above, threshold: 1}",
			want: []string{`comparison: aws.cloudwatch.metricBelow compares below; use aws.cloudwatch.metric for "above"`}},
		{name: "alarms in ALARM", kind: "aws.cloudwatch.alarmState", with: "{alarmNames: [a, b], expect: ALARM}"},
		{name: "alarms: none, a bad state", kind: "aws.cloudwatch.alarmState", with: "{expect: RED}",
			want: []string{"alarmNames: at least one alarm name is required", `expect: must be one of OK, ALARM, INSUFFICIENT_DATA, got "RED"`}},
		{name: "caller identity", kind: "aws.sts.callerIdentity", with: "{}"},
		{name: "a gate of every part", kind: "aws.route53.shiftWeights", with: shiftOK + `
`},
		{name: "gate parts checked with their paths", kind: "aws.route53.shiftWeights", with: `
zoneName: maip.example.com
name: api.maip.example.com
type: A
records:
  - {setIdentifier: primary, aliasTarget: {hostedZoneId: Z35SXDOTRQ7X7K, dnsName: a.us-east-1.elb.amazonaws.com}}
  - {setIdentifier: dr, aliasTarget: {hostedZoneId: Z1H1FL5HABSF5, dnsName: b.us-west-2.elb.amazonaws.com}}
stages: [{weights: {primary: 50, dr: 50}}]
initialWeights: {primary: 0, dr: 0, canary: 1}
healthGate:
  httpChecks: [{url: "ftp://x"}, {url: "https://a.example.com/health", expect: down}]
  metrics: [{namespace: AWS/ELB, metricName: x, comparison: over}]
  interval: 1ms
`,
			want: []string{
				"initialWeights.canary: is not the setIdentifier of a record",
				`healthGate.httpChecks[0].url: must be an http:// or https:// URL, got "ftp://x"`,
				`healthGate.httpChecks[1].expect: must be up in a health gate, got "down"`,
				`healthGate.metrics[0].comparison: must be one of above, atOrAbove, below, atOrBelow, got "over"`,
				"healthGate.metrics[0].threshold: is required",
				"healthGate.interval: must be ≥ 10ms, got 1ms",
			}},
	})
}

func TestShiftWeightsInitialWeightsDefault(t *testing.T) {
	c := &ShiftWeightsConfig{}
	dec := yaml.NewDecoder(bytes.NewBufferString(shiftOK))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.InitialWeights["primary"] != 0 || c.InitialWeights["dr"] != 100 || c.HealthGate.Interval != DefaultGateInterval {
		t.Errorf("initial weights %v, interval %q: want all to dr (the last stage gives it 0), 30s", c.InitialWeights, c.HealthGate.Interval)
	}
}
