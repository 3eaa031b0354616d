package redis

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// DefaultCallTimeout bounds every Redis/Sentinel command unless a config
// says otherwise.
const DefaultCallTimeout = "5s"

var (
	_ steps.Config = (*PromoteConfig)(nil)
	_ steps.Config = (*SentinelMonitorConfig)(nil)
	_ steps.Config = (*SentinelFailoverConfig)(nil)
	_ steps.Config = (*ReplicationStatusConfig)(nil)
	_ steps.Config = (*SentinelsHealthyConfig)(nil)
	_ steps.Config = (*ReplicaOfConfig)(nil)
)

// PromoteConfig configures redis.promote: REPLICAOF NO ONE on the node at
// the connection's addr, verified by ROLE = master. A node that already is a
// master is done. Outputs: role, offset.
type PromoteConfig struct {
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PromoteConfig) CheckAndSetDefaults() error {
	return callTimeout(&c.CallTimeout)
}

// SentinelMonitorConfig configures redis.sentinelMonitor: on every sentinel
// of the connection (its sentinels field), SENTINEL REMOVE then SENTINEL
// MONITOR masterName host port quorum (plus auth-pass and timings), verified
// by SENTINEL GET-MASTER-ADDR-BY-NAME on each sentinel. Done when every
// sentinel reports host:port for masterName. Output: master.
type SentinelMonitorConfig struct {
	// MasterName is the monitored name (default: the connection's masterName).
	MasterName string `yaml:"masterName"`
	// Host and Port of the master to monitor (required; port is a string so
	// that it may be templated, e.g. ${env:LAB_REDIS_DR_PORT}).
	Host string `yaml:"host"`
	Port string `yaml:"port"`
	// Quorum is the number of sentinels that must agree the master is down
	// (default: a majority of the connection's sentinels).
	Quorum int `yaml:"quorum"`
	// AuthPass is the master's password sentinels use (default: the
	// connection's password). May hold ${secret:…}.
	AuthPass string `yaml:"authPass"`
	// DownAfter and FailoverTimeout, optional, are set with SENTINEL SET
	// (down-after-milliseconds, failover-timeout).
	DownAfter       string `yaml:"downAfter"`
	FailoverTimeout string `yaml:"failoverTimeout"`
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *SentinelMonitorConfig) CheckAndSetDefaults() error {
	var errs []error
	errs = append(errs, checkHostPort(c.Host, c.Port)...)
	if c.Quorum < 0 {
		errs = append(errs, steps.FieldErrorf("quorum", "must be > 0, got %d", c.Quorum))
	}
	errs = append(errs,
		callTimeout(&c.CallTimeout),
		checkDuration("downAfter", c.DownAfter),
		checkDuration("failoverTimeout", c.FailoverTimeout))
	return errors.Join(errs...)
}

// SentinelFailoverConfig configures redis.sentinelFailover: SENTINEL
// FAILOVER masterName on one sentinel of the connection, then wait until
// every reachable sentinel reports the expected new master. Done when they
// already do. Output: master.
type SentinelFailoverConfig struct {
	// MasterName is the monitored name (default: the connection's masterName).
	MasterName string `yaml:"masterName"`
	// ExpectMaster is the host:port the new master must be (required).
	ExpectMaster string `yaml:"expectMaster"`
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *SentinelFailoverConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.ExpectMaster == "" {
		errs = append(errs, steps.FieldErrorf("expectMaster", "is required"))
	} else {
		errs = append(errs, checkAddr("expectMaster", c.ExpectMaster))
	}
	errs = append(errs, callTimeout(&c.CallTimeout))
	return errors.Join(errs...)
}

// ReplicationStatusConfig configures redis.replicationStatus, a read-only
// check on the replica at the connection's addr: done when it is a replica
// whose master link is up and whose offset gap is within maxOffsetGap.
// Outputs: master, linkStatus, offsetGap.
type ReplicationStatusConfig struct {
	// MaxOffsetGap is the largest acceptable replication offset gap in bytes
	// (default 0: fully caught up; negative values are refused).
	MaxOffsetGap int64 `yaml:"maxOffsetGap" unit:"bytes"`
	// ExpectMaster, optional host:port, is the master the replica must follow.
	ExpectMaster string `yaml:"expectMaster"`
	// MasterAddr, optional host:port, is asked for its own offset so the gap
	// is measured against the master (same password as the connection);
	// without it the replica's view of the master offset is used.
	MasterAddr string `yaml:"masterAddr"`
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ReplicationStatusConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.MaxOffsetGap < 0 {
		errs = append(errs, steps.FieldErrorf("maxOffsetGap", "must be >= 0, got %d", c.MaxOffsetGap))
	}
	if c.ExpectMaster != "" {
		errs = append(errs, checkAddr("expectMaster", c.ExpectMaster))
	}
	if c.MasterAddr != "" {
		errs = append(errs, checkAddr("masterAddr", c.MasterAddr))
	}
	errs = append(errs, callTimeout(&c.CallTimeout))
	return errors.Join(errs...)
}

// callTimeout fills a callTimeout field left empty with
// DefaultCallTimeout and checks it.
func callTimeout(v *string) error {
	if *v == "" {
		*v = DefaultCallTimeout
	}
	return checkDuration("callTimeout", *v)
}

// checkHostPort checks the required host and port of a master.
func checkHostPort(host, port string) []error {
	var errs []error
	if host == "" {
		errs = append(errs, steps.FieldErrorf("host", "is required"))
	}
	if port == "" {
		errs = append(errs, steps.FieldErrorf("port", "is required"))
	} else {
		errs = append(errs, checkPort("port", port))
	}
	return errs
}

// checkDuration validates a positive duration field unless it is empty
// (optional, or filled with a default first) or templated.
func checkDuration(field, v string) error {
	switch steps.CheckDuration(v, time.Nanosecond) {
	case steps.DurationInvalid:
		return steps.FieldErrorf(field, "is not a duration (like 5s): %q", v)
	case steps.DurationTooShort:
		return steps.FieldErrorf(field, "must be positive, got %s", v)
	}
	return nil
}

func checkPort(field, v string) error {
	if steps.IsTemplate(v) {
		return nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return steps.FieldErrorf(field, "is not a port number: %q", v)
	}
	return nil
}

func checkAddr(field, v string) error {
	if steps.IsTemplate(v) {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return steps.FieldErrorf(field, "is not host:port: %q", v)
	}
	return checkPort(field, port)
}

// ReplicaOfConfig configures redis.replicaOf (failback): REPLICAOF host port
// on the node at the connection's addr, verified by ROLE (a replica of that
// master with its link connected). Outputs: role, master, link.
type ReplicaOfConfig struct {
	// Host and Port of the master to follow (required).
	Host string `yaml:"host"`
	Port string `yaml:"port"`
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ReplicaOfConfig) CheckAndSetDefaults() error {
	var errs []error
	errs = append(errs, checkHostPort(c.Host, c.Port)...)
	errs = append(errs, callTimeout(&c.CallTimeout))
	return errors.Join(errs...)
}

// SentinelsHealthyConfig configures redis.sentinelsHealthy, a read-only
// check for assessments: done when every sentinel of the connection
// answers and they all report the same master for masterName (and it is
// expectMaster, when set). Output: master.
type SentinelsHealthyConfig struct {
	// MasterName is the monitored name (default: the connection's masterName).
	MasterName string `yaml:"masterName"`
	// ExpectMaster, optional host:port, is the master they must agree on.
	ExpectMaster string `yaml:"expectMaster"`
	// CallTimeout bounds each command (default 5s).
	CallTimeout string `yaml:"callTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *SentinelsHealthyConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.ExpectMaster != "" {
		errs = append(errs, checkAddr("expectMaster", c.ExpectMaster))
	}
	errs = append(errs, callTimeout(&c.CallTimeout))
	return errors.Join(errs...)
}
