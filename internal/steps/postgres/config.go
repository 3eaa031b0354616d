package postgres

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Defaults applied by CheckAndSetDefaults to fields left empty.
const (
	DefaultMaxLag       = "30s"
	DefaultQueryTimeout = "10s"
	DefaultWaitSeconds  = 60
	DefaultBinDir       = "/usr/lib/postgresql/15/bin"
	DefaultOSUser       = "postgres"
)

var (
	_ steps.Config = (*ReplicationLagConfig)(nil)
	_ steps.Config = (*PromoteConfig)(nil)
	_ steps.Config = (*QueryConfig)(nil)
	_ steps.Config = (*RejoinAsStandbyConfig)(nil)
)

// ReplicationLagConfig configures postgres.replicationLag, a read-only check
// run on a standby (the step's connection): done when the standby is in
// recovery and its replay lag and bytes behind are within the thresholds.
//
// Lag is 0 when everything received has been replayed, otherwise
// now() - pg_last_xact_replay_timestamp(). Bytes behind is measured against
// the primary's current WAL position when primaryDsn is set (the honest
// figure, used after a rejoin), else as received-but-not-replayed WAL (all
// the standby knows when the primary is gone).
type ReplicationLagConfig struct {
	// MaxLag is the largest acceptable replay lag, a Go duration (default 30s).
	MaxLag string `yaml:"maxLag"`
	// MaxBytes is the largest acceptable WAL distance in bytes (0: no limit).
	MaxBytes int64 `yaml:"maxBytes" unit:"bytes"`
	// PrimaryDSN, optional, is the primary to measure bytes behind against.
	// It may hold ${secret:…} references.
	PrimaryDSN string `yaml:"primaryDsn"`
	// RequireStreaming makes the check fail unless the WAL receiver is
	// streaming (a standby replaying only from archive is not "caught up").
	RequireStreaming bool `yaml:"requireStreaming"`
	// QueryTimeout bounds each query (default 10s).
	QueryTimeout string `yaml:"queryTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ReplicationLagConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.MaxLag == "" {
		c.MaxLag = DefaultMaxLag
	}
	if c.QueryTimeout == "" {
		c.QueryTimeout = DefaultQueryTimeout
	}
	errs = append(errs, checkDuration("maxLag", c.MaxLag, false), checkDuration("queryTimeout", c.QueryTimeout, true))
	if c.MaxBytes < 0 {
		errs = append(errs, steps.FieldErrorf("maxBytes", "must be >= 0, got %d", c.MaxBytes))
	}
	return errors.Join(errs...)
}

// PromoteConfig configures postgres.promote: promote the standby of the
// step's connection with pg_promote(wait, waitSeconds), verified by
// pg_is_in_recovery() = false. Already promoted counts as done.
//
// Outputs: lsn (the WAL position after promotion), timeline, and
// lagAtPromotion (the replay lag measured just before promoting: the RPO).
type PromoteConfig struct {
	// Wait makes pg_promote wait until promotion completes (default true).
	Wait *bool `yaml:"wait"`
	// WaitSeconds bounds that wait (default 60; only with wait: true).
	WaitSeconds int `yaml:"waitSeconds" unit:"seconds"`
	// QueryTimeout bounds each query other than pg_promote (default 10s).
	QueryTimeout string `yaml:"queryTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PromoteConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.Wait == nil {
		t := true
		c.Wait = &t
	}
	switch {
	case !*c.Wait && c.WaitSeconds != 0:
		// pg_promote ignores wait_seconds when it does not wait.
		errs = append(errs, steps.FieldErrorf("waitSeconds", "only applies with wait: true"))
	case !*c.Wait:
	case c.WaitSeconds == 0:
		c.WaitSeconds = DefaultWaitSeconds
	}
	if c.WaitSeconds < 0 {
		errs = append(errs, steps.FieldErrorf("waitSeconds", "must be > 0, got %d", c.WaitSeconds))
	}
	errs = append(errs, queryTimeout(&c.QueryTimeout))
	return errors.Join(errs...)
}

// QueryConfig configures postgres.query, a read-only check: run SQL on the
// step's connection and assert on the result (for data validation and
// connectivity). The SQL may hold several statements; the rows of the last
// one that returns rows are asserted on. All values compare as text.
//
// The SQL runs in a transaction that is rolled back unless commit is true,
// so `CREATE TABLE …; INSERT … RETURNING …` proves the server is writable
// without leaving anything behind (and fails on a read-only standby).
type QueryConfig struct {
	// SQL to run (required).
	SQL string `yaml:"sql"`
	// ExpectRows, if set, is the exact number of rows expected.
	ExpectRows *int `yaml:"expectRows"`
	// MinRows, if set, is the least number of rows expected.
	MinRows *int `yaml:"minRows"`
	// Expect are assertions on values of the result.
	Expect []Expectation `yaml:"expect"`
	// Commit keeps the effects of the SQL (default: rolled back).
	Commit bool `yaml:"commit"`
	// ExpectDown inverts the check for assessments ("the primary database
	// is unreachable"): done when the server cannot be reached or does not
	// answer within queryTimeout; not done when it answers (even with an
	// error: then it is up). Assertions are not allowed with it.
	ExpectDown bool `yaml:"expectDown"`
	// QueryTimeout bounds the query (default 10s); it is also sent to the
	// server as statement_timeout.
	QueryTimeout string `yaml:"queryTimeout"`
}

// Expectation is one assertion on a value of a postgres.query result; every
// comparison given must hold.
type Expectation struct {
	// Row is the 0-based row index (default 0).
	Row int `yaml:"row"`
	// Column is the column name (required).
	Column string `yaml:"column"`
	// Equals compares the text value exactly.
	Equals *string `yaml:"equals"`
	// AtLeast and AtMost compare the value as a number.
	AtLeast string `yaml:"atLeast"`
	AtMost  string `yaml:"atMost"`
	// NotNull asserts the value is not NULL.
	NotNull bool `yaml:"notNull"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *QueryConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.SQL == "" {
		errs = append(errs, steps.FieldErrorf("sql", "is required"))
	}
	errs = append(errs, queryTimeout(&c.QueryTimeout))
	if c.ExpectRows != nil && *c.ExpectRows < 0 {
		errs = append(errs, steps.FieldErrorf("expectRows", "must be >= 0, got %d", *c.ExpectRows))
	}
	if c.MinRows != nil && *c.MinRows < 0 {
		errs = append(errs, steps.FieldErrorf("minRows", "must be >= 0, got %d", *c.MinRows))
	}
	if c.ExpectDown && (len(c.Expect) > 0 || c.ExpectRows != nil || c.MinRows != nil || c.Commit) {
		errs = append(errs, steps.FieldErrorf("expectDown", "cannot be combined with expect, expectRows, minRows or commit"))
	}
	for i, e := range c.Expect {
		f := fmt.Sprintf("expect[%d]", i)
		if e.Column == "" {
			errs = append(errs, steps.FieldErrorf(f+".column", "is required"))
		}
		if e.Row < 0 {
			errs = append(errs, steps.FieldErrorf(f+".row", "must be >= 0, got %d", e.Row))
		}
		if e.Equals == nil && e.AtLeast == "" && e.AtMost == "" && !e.NotNull {
			errs = append(errs, steps.FieldErrorf(f, "needs one of equals, atLeast, atMost, notNull"))
		}
		for name, v := range map[string]string{"atLeast": e.AtLeast, "atMost": e.AtMost} {
			if v == "" || steps.IsTemplate(v) {
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				errs = append(errs, steps.FieldErrorf(f+"."+name, "must be a number, got %q", v))
			}
		}
	}
	return errors.Join(errs...)
}

// RejoinAsStandbyConfig configures postgres.rejoinAsStandby, for failback:
// the old primary (whose data directory is on the bot's host; the step's
// connection reaches it) rejoins as a streaming standby of the new primary.
// Apply stops it if running, rewinds it with pg_rewind (or takes a fresh
// base backup: method basebackup, or auto when the rewind fails), keeps its
// own configuration files, writes standby.signal and primary_conninfo, and
// starts it. Check: the server is in recovery and its WAL receiver streams.
type RejoinAsStandbyConfig struct {
	// DataDir is the old primary's data directory (required).
	DataDir string `yaml:"dataDir"`
	// PrimaryConnInfo is the new primary's libpq conninfo or URL, used as
	// pg_rewind/pg_basebackup source and as primary_conninfo (required; may
	// hold ${secret:…}; the role needs replication and rewind rights).
	PrimaryConnInfo string `yaml:"primaryConnInfo"`
	// Method is rewind, basebackup or auto (default: auto = rewind, then a
	// base backup if the rewind fails).
	Method string `yaml:"method"`
	// BinDir holds pg_ctl, pg_rewind, pg_basebackup (default
	// /usr/lib/postgresql/15/bin).
	BinDir string `yaml:"binDir"`
	// OSUser runs those programs when the bot runs as root (default postgres).
	OSUser string `yaml:"osUser"`
	// StartOptions are passed to the server by `pg_ctl start -o`.
	StartOptions string `yaml:"startOptions"`
	// LogFile receives the server's log (default: <dataDir>/rejoin.log).
	LogFile string `yaml:"logFile"`
	// QueryTimeout bounds each query (default 10s).
	QueryTimeout string `yaml:"queryTimeout"`
}

// Rejoin methods.
const (
	MethodAuto       = "auto"
	MethodRewind     = "rewind"
	MethodBaseBackup = "basebackup"
)

var osUserPattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)

// CheckAndSetDefaults fills defaults and checks every field.
func (c *RejoinAsStandbyConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, steps.FieldErrorf("dataDir", "is required"))
	}
	if c.PrimaryConnInfo == "" {
		errs = append(errs, steps.FieldErrorf("primaryConnInfo", "is required"))
	}
	if c.Method == "" {
		c.Method = MethodAuto
	}
	switch c.Method {
	case MethodAuto, MethodRewind, MethodBaseBackup:
	default:
		if !steps.IsTemplate(c.Method) {
			errs = append(errs, steps.FieldErrorf("method", "must be auto, rewind or basebackup, got %q", c.Method))
		}
	}
	if c.BinDir == "" {
		c.BinDir = DefaultBinDir
	}
	if c.OSUser == "" {
		c.OSUser = DefaultOSUser
	}
	if c.LogFile == "" && c.DataDir != "" {
		c.LogFile = filepath.Join(c.DataDir, "rejoin.log")
	}
	if !steps.IsTemplate(c.OSUser) && !osUserPattern.MatchString(c.OSUser) {
		errs = append(errs, steps.FieldErrorf("osUser", "is not a user name: %q", c.OSUser))
	}
	errs = append(errs, queryTimeout(&c.QueryTimeout))
	return errors.Join(errs...)
}

// queryTimeout fills a queryTimeout field left empty with
// DefaultQueryTimeout and checks it.
func queryTimeout(v *string) error {
	if *v == "" {
		*v = DefaultQueryTimeout
	}
	return checkDuration("queryTimeout", *v, true)
}

// checkDuration validates a duration field unless it is empty or templated
// (positive: it must also be > 0).
func checkDuration(field, v string, positive bool) error {
	min := time.Duration(0)
	if positive {
		min = time.Nanosecond
	}
	switch steps.CheckDuration(v, min) {
	case steps.DurationInvalid:
		return steps.FieldErrorf(field, "is not a duration (like 10s, 2m): %q", v)
	case steps.DurationTooShort:
		return steps.FieldErrorf(field, "must be positive, got %s", v)
	}
	return nil
}
