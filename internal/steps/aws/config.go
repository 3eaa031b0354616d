package aws

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

var (
	_ steps.Config = (*PromoteReadReplicaConfig)(nil)
	_ steps.Config = (*InstanceStatusConfig)(nil)
	_ steps.Config = (*CreateReadReplicaConfig)(nil)
	_ steps.Config = (*UpsertRecordConfig)(nil)
	_ steps.Config = (*ShiftWeightsConfig)(nil)
	_ steps.Config = (*HealthCheckConfig)(nil)
	_ steps.Config = (*UpdateHealthCheckConfig)(nil)
	_ steps.Config = (*RegionStatusConfig)(nil)
	_ steps.Config = (*ScaleNodegroupConfig)(nil)
	_ steps.Config = (*ReplicasActiveConfig)(nil)
	_ steps.Config = (*MetricBelowConfig)(nil)
	_ steps.Config = (*MetricConfig)(nil)
	_ steps.Config = (*AlarmStateConfig)(nil)
	_ steps.Config = (*CallerIdentityConfig)(nil)
	_ steps.Config = (*NewestObjectAgeConfig)(nil)
	_ steps.Config = (*ReplicatorRunningConfig)(nil)
)

// Expectations of the probes that confirm a failure or a recovery.
const (
	ExpectAvailable   = "available"
	ExpectUnavailable = "unavailable"
	ExpectUp          = "up"
	ExpectDown        = "down"
)

// PromoteReadReplicaConfig configures aws.rds.promoteReadReplica
// (`aws rds promote-read-replica` + `aws rds wait db-instance-available`)
// in the region of the step's connection. Check is done when the instance
// is no longer a read replica and its status is available; Apply promotes
// it and the step waits through modifying/rebooting. Outputs: endpoint,
// port (of the promoted instance, the new writer).
type PromoteReadReplicaConfig struct {
	// DBInstanceIdentifier is the read replica to promote (required).
	DBInstanceIdentifier string `yaml:"dbInstanceIdentifier"`
	// BackupRetentionPeriod, optional, in days (0–35) for the promoted
	// instance (RDS keeps the replica's setting otherwise).
	BackupRetentionPeriod *int `yaml:"backupRetentionPeriod" unit:"days"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PromoteReadReplicaConfig) CheckAndSetDefaults() error {
	var e errs
	e.dbIdentifier("dbInstanceIdentifier", c.DBInstanceIdentifier)
	if p := c.BackupRetentionPeriod; p != nil && (*p < 0 || *p > 35) {
		e.Add("backupRetentionPeriod", "must be between 0 and 35 days, got %d", *p)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// InstanceStatusConfig configures aws.rds.instanceStatus, a read-only probe
// (`aws rds describe-db-instances --query 'DBInstances[0].DBInstanceStatus'`).
// With expect available it is done when the status is available (and, with
// readReplica, the instance still replicates from a source). With expect
// unavailable it is done when the status is anything else or the RDS API
// of the region does not answer within callTimeout: the evidence of a
// failed primary. Outputs: status, endpoint, replicaSource.
type InstanceStatusConfig struct {
	// DBInstanceIdentifier is the instance (required).
	DBInstanceIdentifier string `yaml:"dbInstanceIdentifier"`
	// Expect is available (default) or unavailable.
	Expect string `yaml:"expect"`
	// ReadReplica requires the instance to be a read replica (DR readiness).
	ReadReplica bool `yaml:"readReplica"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *InstanceStatusConfig) CheckAndSetDefaults() error {
	var e errs
	e.dbIdentifier("dbInstanceIdentifier", c.DBInstanceIdentifier)
	if c.Expect == "" {
		c.Expect = ExpectAvailable
	}
	e.OneOf("expect", c.Expect, ExpectAvailable, ExpectUnavailable)
	if c.ReadReplica && c.Expect == ExpectUnavailable {
		e.Add("readReplica", "only applies with expect: available")
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// CreateReadReplicaConfig configures aws.rds.createReadReplica
// (`aws rds create-db-instance-read-replica`, failback): create a read
// replica, in the region of the step's connection, of a source instance
// (in another region with sourceRegion). Check is done when the replica
// exists, replicates from that source and is available. Outputs: endpoint,
// arn.
type CreateReadReplicaConfig struct {
	// DBInstanceIdentifier is the new replica's identifier (required).
	DBInstanceIdentifier string `yaml:"dbInstanceIdentifier"`
	// SourceDBInstanceIdentifier is the source instance (required): its ARN
	// when sourceRegion is set, as RDS requires for a cross-region replica.
	SourceDBInstanceIdentifier string `yaml:"sourceDbInstanceIdentifier"`
	// SourceRegion is the source's region for a cross-region replica.
	SourceRegion string `yaml:"sourceRegion"`
	// DBInstanceClass, optional (default: the source's class).
	DBInstanceClass string `yaml:"dbInstanceClass"`
	// KMSKeyID is the key in the destination region (required by RDS for
	// an encrypted cross-region replica).
	KMSKeyID string `yaml:"kmsKeyId"`
	// MultiAZ creates a Multi-AZ replica.
	MultiAZ bool `yaml:"multiAz"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *CreateReadReplicaConfig) CheckAndSetDefaults() error {
	var e errs
	e.dbIdentifier("dbInstanceIdentifier", c.DBInstanceIdentifier)
	src := c.SourceDBInstanceIdentifier
	switch {
	case src == "":
		e.Add("sourceDbInstanceIdentifier", "is required")
	case steps.IsTemplate(src):
	case strings.HasPrefix(src, "arn:"):
		if !strings.HasPrefix(src, "arn:aws") || !strings.Contains(src, ":rds:") || !strings.Contains(src, ":db:") {
			e.Add("sourceDbInstanceIdentifier", "must be an RDS DB instance ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME), got %q", src)
		}
	case c.SourceRegion != "":
		e.Add("sourceDbInstanceIdentifier", "must be the source's ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME) when sourceRegion is set, got %q", src)
	default:
		e.dbIdentifier("sourceDbInstanceIdentifier", src)
	}
	e.region("sourceRegion", c.SourceRegion)
	if checkable(c.DBInstanceClass) && !strings.HasPrefix(c.DBInstanceClass, "db.") {
		e.Add("dbInstanceClass", "must be an instance class such as db.r6g.large, got %q", c.DBInstanceClass)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// RegionStatusConfig configures aws.ec2.regionStatus, a read-only probe
// (`aws ec2 describe-regions --region-names us-east-1`) against the EC2
// endpoint of the step's connection. Up: the endpoint answers within
// callTimeout and lists the region as enabled. Down: it does not answer,
// or answers with an error. Done when the observed state is expect.
// Output: optInStatus.
type RegionStatusConfig struct {
	// RegionName is the region to describe (required).
	RegionName string `yaml:"regionName"`
	// Expect is up (default) or down.
	Expect string `yaml:"expect"`
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *RegionStatusConfig) CheckAndSetDefaults() error {
	var e errs
	if e.Required("regionName", c.RegionName) {
		e.region("regionName", c.RegionName)
	}
	if c.Expect == "" {
		c.Expect = ExpectUp
	}
	e.OneOf("expect", c.Expect, ExpectUp, ExpectDown)
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// ScaleNodegroupConfig configures aws.eks.scaleNodegroup
// (`aws eks update-nodegroup-config --scaling-config minSize=…,maxSize=…,desiredSize=…`).
// Check is done when the node group has this scaling config and is ACTIVE;
// after Apply the step waits through UPDATING. Unset sizes keep their
// current value.
type ScaleNodegroupConfig struct {
	// ClusterName is the EKS cluster (required).
	ClusterName string `yaml:"clusterName"`
	// NodegroupName is the managed node group (required).
	NodegroupName string `yaml:"nodegroupName"`
	// MinSize, MaxSize, DesiredSize of the scaling config (at least one).
	MinSize     *int `yaml:"minSize"`
	MaxSize     *int `yaml:"maxSize"`
	DesiredSize *int `yaml:"desiredSize"`
	// CallTimeout bounds each API call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ScaleNodegroupConfig) CheckAndSetDefaults() error {
	var e errs
	if e.Required("clusterName", c.ClusterName) {
		e.match("clusterName", c.ClusterName, eksName, "an EKS cluster name")
	}
	if e.Required("nodegroupName", c.NodegroupName) {
		e.match("nodegroupName", c.NodegroupName, eksName, "a node group name")
	}
	if c.MinSize == nil && c.MaxSize == nil && c.DesiredSize == nil {
		e.Add("desiredSize", "one of minSize, maxSize, desiredSize is required")
	}
	for _, s := range []struct {
		field string
		v     *int
		min   int
	}{{"minSize", c.MinSize, 0}, {"maxSize", c.MaxSize, 1}, {"desiredSize", c.DesiredSize, 0}} {
		if s.v != nil && *s.v < s.min {
			e.Add(s.field, "must be ≥ %d, got %d", s.min, *s.v)
		}
	}
	if c.MinSize != nil && c.MaxSize != nil && *c.MinSize > *c.MaxSize {
		e.Add("minSize", "must be ≤ maxSize (%d), got %d", *c.MaxSize, *c.MinSize)
	}
	if d := c.DesiredSize; d != nil {
		if c.MinSize != nil && *d < *c.MinSize {
			e.Add("desiredSize", "must be ≥ minSize (%d), got %d", *c.MinSize, *d)
		}
		if c.MaxSize != nil && *d > *c.MaxSize {
			e.Add("desiredSize", "must be ≤ maxSize (%d), got %d", *c.MaxSize, *d)
		}
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// ReplicasActiveConfig configures aws.dynamodb.replicasActive, a read-only
// probe (`aws dynamodb describe-table --query 'Table.Replicas'`): done when
// the global table has a replica in every listed region and each is
// ACTIVE. Output: replicas (region=status, comma-separated).
type ReplicasActiveConfig struct {
	// TableName is the global table (required).
	TableName string `yaml:"tableName"`
	// Regions that must hold an ACTIVE replica (at least one).
	Regions []string `yaml:"regions"`
	// CallTimeout bounds the call (default 10s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ReplicasActiveConfig) CheckAndSetDefaults() error {
	var e errs
	if e.Required("tableName", c.TableName) {
		e.match("tableName", c.TableName, tableName, "a DynamoDB table name (3–255 of A-Z a-z 0-9 _ . -)")
	}
	if len(c.Regions) == 0 {
		e.Add("regions", "at least one region is required")
	}
	seen := map[string]bool{}
	for i, r := range c.Regions {
		if r == "" {
			e.Add(idx("regions", i), "must not be empty")
			continue
		}
		if seen[r] {
			e.Add(idx("regions", i), "duplicate region %q", r)
		}
		seen[r] = true
		e.region(idx("regions", i), r)
	}
	e.callTimeout(&c.CallTimeout)
	return e.Err()
}

// DefaultCallTimeout bounds each AWS API call unless a config says
// otherwise: an endpoint in a failed region that drops packets must not
// hang a step.
const DefaultCallTimeout = "10s"

var (
	// regionName is an AWS region such as us-east-1 or us-gov-west-1.
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	// hostedZoneID is a Route 53 zone id, with or without /hostedzone/.
	hostedZoneID = regexp.MustCompile(`^(/hostedzone/)?Z[A-Z0-9]{1,31}$`)
	// dnsName is a domain name, optionally fully qualified, maybe a wildcard.
	dnsName = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.?$`)
	// tableName is a DynamoDB table name.
	tableName = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	// bucketName is an S3 bucket name.
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// eksName is an EKS cluster or node group name.
	eksName = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$`)
)

// errs collects the field errors of one CheckAndSetDefaults call: the shared
// collector plus the checks of AWS names and values.
type errs struct{ steps.FieldErrors }

// checkable reports whether an optional v is set and not a template.
func checkable(v string) bool { return v != "" && !steps.IsTemplate(v) }

// match checks v against re unless empty or templated.
func (e *errs) match(field, v string, re *regexp.Regexp, what string) {
	if checkable(v) && !re.MatchString(v) {
		e.Add(field, "must be %s, got %q", what, v)
	}
}

// region checks a region name unless empty or templated.
func (e *errs) region(field, v string) {
	e.match(field, v, regionName, "an AWS region such as us-west-2")
}

// dbIdentifier checks an RDS DB instance identifier unless templated:
// 1 to 63 letters, digits or hyphens, starting with a letter, with no two
// consecutive hyphens and no hyphen at the end.
func (e *errs) dbIdentifier(field, v string) {
	if !e.Required(field, v) {
		return
	}
	ok := len(v) <= 63 && isLetter(v[0]) && !strings.HasSuffix(v, "-") && !strings.Contains(v, "--")
	for i := 0; ok && i < len(v); i++ {
		ok = isLetter(v[i]) || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'
	}
	if !ok {
		e.Add(field, "must be a DB instance identifier (1–63 letters, digits, hyphens; a letter first; no -- or trailing -), got %q", v)
	}
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// duration checks a Go duration string of at least min unless empty or
// templated.
func (e *errs) duration(field, v string, min time.Duration) {
	e.Duration(field, v, min, "10s, 5m")
}

// callTimeout fills and checks a callTimeout field.
func (e *errs) callTimeout(v *string) {
	if *v == "" {
		*v = DefaultCallTimeout
	}
	e.duration("callTimeout", *v, time.Nanosecond)
}

// ip checks an IP address unless empty or templated.
func (e *errs) ip(field, v string, want4, want6 bool) {
	if !checkable(v) {
		return
	}
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		e.Add(field, "is not an IP address: %q", v)
	case want4 && !a.Is4():
		e.Add(field, "must be an IPv4 address, got %q", v)
	case want6 && !a.Is6():
		e.Add(field, "must be an IPv6 address, got %q", v)
	}
}

// nested adds the field errors of a nested config's CheckAndSetDefaults
// with their fields prefixed.
func (e *errs) nested(prefix string, err error) {
	if err == nil {
		return
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, x := range list {
		var fe *steps.FieldError
		if errors.As(x, &fe) {
			e.Add(prefix+fe.Field, "%s", fe.Msg)
		} else {
			e.Add(strings.TrimSuffix(prefix, "."), "%v", x)
		}
	}
}

func idx(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }
