// Package redis holds the Redis step kinds: promoting a replica, pointing
// Sentinels at a master, a Sentinel failover, and replication status. Every
// call has a deadline; passwords never appear in errors.
package redis

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the redis connection type. addr is one node
// (host:port); sentinels is a comma-separated list of host:port;
// password and sentinelPassword may hold ${secret:…} references.
var ConnectionType = steps.ConnectionType{
	Name:     "redis",
	Optional: []string{"addr", "password", "sentinels", "masterName", "sentinelPassword"},
}

// Kinds returns the Redis step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		{
			Name:       "redis.promote",
			Doc:        "REPLICAOF NO ONE on the connection's addr, verified by ROLE",
			Connection: "redis",
			Outputs:    []string{"role", "offset"},
			NewConfig:  func() steps.Config { return &PromoteConfig{} },
			New:        newPromote,
		},
		{
			Name:       "redis.sentinelMonitor",
			Doc:        "SENTINEL REMOVE + MONITOR on every sentinel, verified on each",
			Connection: "redis",
			Outputs:    []string{"master"},
			NewConfig:  func() steps.Config { return &SentinelMonitorConfig{} },
			New:        newSentinelMonitor,
		},
		{
			Name:       "redis.sentinelFailover",
			Doc:        "SENTINEL FAILOVER, then wait until the expected node is master",
			Connection: "redis",
			Outputs:    []string{"master"},
			NewConfig:  func() steps.Config { return &SentinelFailoverConfig{} },
			New:        newSentinelFailover,
		},
		{
			Name:       "redis.replicationStatus",
			Doc:        "replica's master link is up and its offset gap within a threshold",
			ReadOnly:   true,
			Connection: "redis",
			Outputs:    []string{"master", "linkStatus", "offsetGap"},
			NewConfig:  func() steps.Config { return &ReplicationStatusConfig{} },
			New:        newReplicationStatus,
		},
		{
			Name:       "redis.sentinelsHealthy",
			Doc:        "every sentinel answers and they agree on the master (optionally the expected one)",
			ReadOnly:   true,
			Connection: "redis",
			Outputs:    []string{"master"},
			NewConfig:  func() steps.Config { return &SentinelsHealthyConfig{} },
			New:        newSentinelsHealthy,
		},
		{
			Name:       "redis.replicaOf",
			Doc:        "REPLICAOF host port on the connection's addr, verified by ROLE (for failback)",
			Connection: "redis",
			Outputs:    []string{"role", "master", "link"},
			NewConfig:  func() steps.Config { return &ReplicaOfConfig{} },
			New:        newReplicaOf,
		},
	}
}

// Register adds the redis connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}
