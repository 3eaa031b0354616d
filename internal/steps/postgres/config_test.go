package postgres

import (
	"errors"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		cfg    steps.Config
		fields []string
	}{
		{"lag with bad thresholds", &ReplicationLagConfig{MaxLag: "fast", MaxBytes: -1, QueryTimeout: "0s"}, []string{"maxLag", "maxBytes", "queryTimeout"}},
		{"promote with negative wait", &PromoteConfig{WaitSeconds: -1}, []string{"waitSeconds"}},
		{"promote bounding a wait it does not do", &PromoteConfig{Wait: new(bool), WaitSeconds: 30}, []string{"waitSeconds"}},
		{"query without sql", &QueryConfig{Expect: []Expectation{{Row: -1, AtLeast: "many"}}}, []string{"sql", "expect[0].column", "expect[0].row", "expect[0].atLeast"}},
		{"query expectation without comparison", &QueryConfig{SQL: "x", Expect: []Expectation{{Column: "c"}}}, []string{"expect[0]"}},
		{"rejoin without data dir or primary", &RejoinAsStandbyConfig{Method: "copy", OSUser: "Bad User"}, []string{"dataDir", "primaryConnInfo", "method", "osUser"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckAndSetDefaults()
			for _, f := range tt.fields {
				if !hasField(err, f) {
					t.Errorf("CheckAndSetDefaults() = %v, want an error on %s", err, f)
				}
			}
		})
	}
	ok := []steps.Config{
		&ReplicationLagConfig{MaxLag: "{{ .params.maxLag }}"},
		&QueryConfig{SQL: "SELECT 1", Expect: []Expectation{{Column: "x", AtLeast: "${env:MIN}"}}},
		&RejoinAsStandbyConfig{DataDir: "${env:LAB_PG_PRIMARY_DATA}", PrimaryConnInfo: "${secret:LAB_PG_STANDBY_DSN}"},
	}
	for _, c := range ok {
		if err := c.CheckAndSetDefaults(); err != nil {
			t.Errorf("%T with templates: %v", c, err)
		}
	}
}

func hasField(err error, field string) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		var fe *steps.FieldError
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

func TestRejoinLogFileDefaultsToTheDataDir(t *testing.T) {
	c := &RejoinAsStandbyConfig{DataDir: "/var/lib/pg/data", PrimaryConnInfo: "host=dr"}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.LogFile != "/var/lib/pg/data/rejoin.log" || c.Method != MethodAuto || c.BinDir != DefaultBinDir || c.OSUser != DefaultOSUser {
		t.Errorf("defaults: logFile %q method %q binDir %q osUser %q", c.LogFile, c.Method, c.BinDir, c.OSUser)
	}
	c = &RejoinAsStandbyConfig{DataDir: "/d", PrimaryConnInfo: "host=dr", LogFile: "/tmp/own.log"}
	if err := c.CheckAndSetDefaults(); err != nil || c.LogFile != "/tmp/own.log" {
		t.Errorf("a logFile given: %q, %v", c.LogFile, err)
	}
}
