package redis

import (
	"context"
	"fmt"
	"net"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Promote is a redis.promote step.
type Promote struct {
	t *target
	c *goredis.Client
}

var (
	_ steps.Step   = (*Promote)(nil)
	_ steps.Closer = (*Promote)(nil)
)

func newPromote(_ context.Context, c *PromoteConfig, env steps.Env) (steps.Step, error) {
	t, err := newTarget("redis.promote", env, c.CallTimeout, true, false)
	if err != nil {
		return nil, err
	}
	return &Promote{t: t, c: t.node(t.addr)}, nil
}

// Check: done when the node's ROLE is master.
func (p *Promote) Check(ctx context.Context) (steps.Result, error) {
	r, err := p.t.role(ctx, p.c)
	if err != nil {
		return steps.Result{}, p.t.wrap(err, "redis.promote: ROLE on %s", p.t.addr)
	}
	out := map[string]string{"role": r.role, "offset": strconv.FormatInt(r.offset, 10)}
	if r.role == "master" {
		return steps.Result{Done: true, Summary: fmt.Sprintf("%s is master (offset %d)", p.t.addr, r.offset), Outputs: out}, nil
	}
	return steps.Result{Summary: fmt.Sprintf("%s is a replica of %s (link %s, offset %d)", p.t.addr, r.masterAddr, r.link, r.offset), Outputs: out}, nil
}

// Apply sends REPLICAOF NO ONE (harmless on a master).
func (p *Promote) Apply(ctx context.Context) error {
	ctx, cancel := p.t.call(ctx)
	defer cancel()
	return p.t.wrap(p.c.Do(ctx, "REPLICAOF", "NO", "ONE").Err(), "redis.promote: REPLICAOF NO ONE on %s", p.t.addr)
}

// Close releases the client.
func (p *Promote) Close() error { return p.c.Close() }

// ReplicaOf is a redis.replicaOf step.
type ReplicaOf struct {
	t      *target
	c      *goredis.Client
	master string
}

var (
	_ steps.Step   = (*ReplicaOf)(nil)
	_ steps.Closer = (*ReplicaOf)(nil)
)

func newReplicaOf(_ context.Context, c *ReplicaOfConfig, env steps.Env) (steps.Step, error) {
	if err := checkPort("port", c.Port); err != nil || steps.IsTemplate(c.Port+c.Host) {
		return nil, steps.Permanentf("redis.replicaOf: bad master address %q:%q", c.Host, c.Port)
	}
	t, err := newTarget("redis.replicaOf", env, c.CallTimeout, true, false)
	if err != nil {
		return nil, err
	}
	return &ReplicaOf{t: t, c: t.node(t.addr), master: net.JoinHostPort(c.Host, c.Port)}, nil
}

// Check: done when the node replicates from the master with its link up.
func (r *ReplicaOf) Check(ctx context.Context) (steps.Result, error) {
	ri, err := r.t.role(ctx, r.c)
	if err != nil {
		return steps.Result{}, r.t.wrap(err, "redis.replicaOf: ROLE on %s", r.t.addr)
	}
	out := map[string]string{"role": ri.role, "master": ri.masterAddr, "link": ri.link}
	switch {
	case ri.role == "slave" && sameAddr(ri.masterAddr, r.master) && ri.link == "connected":
		return steps.Result{Done: true, Summary: fmt.Sprintf("%s replicates from %s (offset %d)", r.t.addr, r.master, ri.offset), Outputs: out}, nil
	case ri.role == "slave" && sameAddr(ri.masterAddr, r.master):
		return steps.Result{Summary: fmt.Sprintf("%s is syncing from %s (link %s)", r.t.addr, r.master, ri.link), Outputs: out}, nil
	case ri.role == "slave":
		return steps.Result{Summary: fmt.Sprintf("%s replicates from %s, not %s", r.t.addr, ri.masterAddr, r.master), Outputs: out}, nil
	}
	return steps.Result{Summary: fmt.Sprintf("%s is a %s, not a replica of %s", r.t.addr, ri.role, r.master), Outputs: out}, nil
}

// Apply sends REPLICAOF host port unless the node already follows it (a
// second REPLICAOF to the same master would not resync, but it is noise).
func (r *ReplicaOf) Apply(ctx context.Context) error {
	if ri, err := r.t.role(ctx, r.c); err == nil && ri.role == "slave" && sameAddr(ri.masterAddr, r.master) {
		return nil
	}
	host, port, _ := net.SplitHostPort(r.master)
	ctx, cancel := r.t.call(ctx)
	defer cancel()
	return r.t.wrap(r.c.Do(ctx, "REPLICAOF", host, port).Err(), "redis.replicaOf: REPLICAOF %s on %s", r.master, r.t.addr)
}

// Close releases the client.
func (r *ReplicaOf) Close() error { return r.c.Close() }
