package redis

import (
	"context"
	"fmt"
	"net"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ReplicationStatus is a redis.replicationStatus step.
type ReplicationStatus struct {
	t   *target
	cfg ReplicationStatusConfig
	c   *goredis.Client
}

var (
	_ steps.Probe  = (*ReplicationStatus)(nil)
	_ steps.Closer = (*ReplicationStatus)(nil)
)

func newReplicationStatus(_ context.Context, c *ReplicationStatusConfig, env steps.Env) (steps.Probe, error) {
	for _, a := range []string{c.ExpectMaster, c.MasterAddr} {
		if a != "" && (steps.IsTemplate(a) || checkAddr("addr", a) != nil) {
			return nil, steps.Permanentf("redis.replicationStatus: not host:port: %q", a)
		}
	}
	t, err := newTarget("redis.replicationStatus", env, c.CallTimeout, true, false)
	if err != nil {
		return nil, err
	}
	return &ReplicationStatus{t: t, cfg: *c, c: t.node(t.addr)}, nil
}

// Check reads INFO replication on the replica (and the master's offset when
// masterAddr is set).
func (r *ReplicationStatus) Check(ctx context.Context) (steps.Result, error) {
	info, err := r.t.infoReplication(ctx, r.c)
	if err != nil {
		return steps.Result{}, r.t.wrap(err, "redis.replicationStatus: INFO replication on %s", r.t.addr)
	}
	if info["role"] != "slave" {
		return steps.Result{Summary: fmt.Sprintf("%s is a %s, not a replica", r.t.addr, info["role"]),
			Outputs: map[string]string{"master": "", "linkStatus": "", "offsetGap": ""}}, nil
	}
	master := net.JoinHostPort(info["master_host"], info["master_port"])
	link := info["master_link_status"]
	replOffset, _ := strconv.ParseInt(info["slave_repl_offset"], 10, 64)
	masterOffset, _ := strconv.ParseInt(info["master_repl_offset"], 10, 64)
	if r.cfg.MasterAddr != "" {
		mc := r.t.node(r.cfg.MasterAddr)
		minfo, err := r.t.infoReplication(ctx, mc)
		mc.Close()
		if err != nil {
			return steps.Result{}, r.t.wrap(err, "redis.replicationStatus: INFO replication on master %s", r.cfg.MasterAddr)
		}
		masterOffset, _ = strconv.ParseInt(minfo["master_repl_offset"], 10, 64)
	}
	gap := max(masterOffset-replOffset, 0)
	out := map[string]string{"master": master, "linkStatus": link, "offsetGap": strconv.FormatInt(gap, 10)}
	res := steps.Result{Outputs: out}
	switch {
	case link != "up":
		res.Summary = fmt.Sprintf("%s: link to %s is %s (down %ss)", r.t.addr, master, link, info["master_link_down_since_seconds"])
	case r.cfg.ExpectMaster != "" && !sameAddr(master, r.cfg.ExpectMaster):
		res.Summary = fmt.Sprintf("%s replicates from %s, not %s", r.t.addr, master, r.cfg.ExpectMaster)
	case gap > r.cfg.MaxOffsetGap:
		res.Summary = fmt.Sprintf("%s is %d bytes behind %s (max %d)", r.t.addr, gap, master, r.cfg.MaxOffsetGap)
	default:
		res.Done = true
		res.Summary = fmt.Sprintf("%s replicates from %s, link up, %d bytes behind", r.t.addr, master, gap)
	}
	return res, nil
}

// Close releases the client.
func (r *ReplicationStatus) Close() error { return r.c.Close() }
