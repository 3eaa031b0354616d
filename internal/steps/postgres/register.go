// Package postgres holds the PostgreSQL step kinds: replication lag,
// promotion, queries with assertions, and rejoining an old primary as a
// standby for failback. Every network call has a deadline; DSN passwords
// never appear in errors.
package postgres

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the postgres connection type: a libpq DSN (URL or
// key=value), which may hold ${secret:…} references.
var ConnectionType = steps.ConnectionType{Name: "postgres", Required: []string{"dsn"}}

// Kinds returns the PostgreSQL step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		{
			Name:       "postgres.replicationLag",
			Doc:        "standby replay lag and WAL bytes behind are within thresholds",
			ReadOnly:   true,
			Connection: "postgres",
			Outputs:    []string{"lag", "bytes"},
			NewConfig:  func() steps.Config { return &ReplicationLagConfig{} },
			New:        newReplicationLag,
		},
		{
			Name:       "postgres.promote",
			Doc:        "promote a standby with pg_promote, verified by pg_is_in_recovery()",
			Connection: "postgres",
			Outputs:    []string{"lsn", "timeline", "lagAtPromotion"},
			NewConfig:  func() steps.Config { return &PromoteConfig{} },
			New:        newPromote,
		},
		{
			Name:       "postgres.query",
			Doc:        "run SQL (rolled back unless commit) and assert on rows and values",
			ReadOnly:   true,
			Connection: "postgres",
			Outputs:    []string{"rows", "value"},
			NewConfig:  func() steps.Config { return &QueryConfig{} },
			New:        newQuery,
		},
		{
			Name:       "postgres.rejoinAsStandby",
			Doc:        "old primary rejoins as a streaming standby of the new one (pg_rewind or base backup)",
			Connection: "postgres",
			Outputs:    []string{"method", "receiver"},
			NewConfig:  func() steps.Config { return &RejoinAsStandbyConfig{} },
			New:        newRejoin,
		},
	}
}

// Register adds the postgres connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
