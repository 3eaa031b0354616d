// Package redis holds the Redis step kinds: promoting a replica, pointing
// Sentinels at a master, a Sentinel failover, and replication status. Every
// call has a deadline; passwords never appear in errors.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the redis connection type. addr is one node
// (host:port); sentinels is a comma-separated list of host:port;
// password and sentinelPassword may hold ${secret:…} references.
var ConnectionType = steps.ConnectionType{
	Name:     "redis",
	Optional: []string{"addr", "password", "sentinels", "masterName", "sentinelPassword"},
	Check:    checkConnection,
}

// checkConnection checks the addresses the connection gives (no
// connection is made); which of them a step needs is its kind's check.
func checkConnection(_ context.Context, c *steps.Connection) error {
	_, err := newTarget("redis", steps.Env{Conn: c}, "1s", c.Fields["addr"] != "", c.Fields["sentinels"] != "")
	return err
}

// Kinds returns the Redis step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.StepKind(spec("redis.promote", "REPLICAOF NO ONE on the connection's addr, verified by ROLE", "role", "offset"), newPromote),
		steps.StepKind(spec("redis.sentinelMonitor", "SENTINEL REMOVE + MONITOR on every sentinel, verified on each", "master"), newSentinelMonitor),
		steps.StepKind(spec("redis.sentinelFailover", "SENTINEL FAILOVER, then wait until the expected node is master", "master"), newSentinelFailover),
		steps.ProbeKind(spec("redis.replicationStatus", "replica's master link is up and its offset gap within a threshold", "master", "linkStatus", "offsetGap"), newReplicationStatus),
		steps.ProbeKind(spec("redis.sentinelsHealthy", "every sentinel answers and they agree on the master (optionally the expected one)", "master"), newSentinelsHealthy),
		steps.StepKind(spec("redis.replicaOf", "REPLICAOF host port on the connection's addr, verified by ROLE (for failback)", "role", "master", "link"), newReplicaOf),
	}
}

// spec is the Spec of a kind on a redis connection.
func spec(name, doc string, outputs ...string) steps.Spec {
	return steps.Spec{Name: name, Doc: doc, Connection: ConnectionType.Name, Outputs: outputs}
}

// Register adds the redis connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}

// target is a redis connection, resolved from the step's connection.
type target struct {
	name             string
	addr             string
	password         string
	sentinels        []string
	masterName       string
	sentinelPassword string
	timeout          time.Duration
	red              *secret.Redactor
	log              *slog.Logger
}

// newTarget reads the step's connection; needAddr / needSentinels say
// which fields the kind uses.
func newTarget(kind string, env steps.Env, callTimeout string, needAddr, needSentinels bool) (*target, error) {
	if env.Conn == nil {
		return nil, steps.Permanentf("%s: needs a redis connection", kind)
	}
	f := env.Conn.Fields
	t := &target{name: env.Conn.Name, addr: f["addr"], password: f["password"], masterName: f["masterName"],
		sentinelPassword: f["sentinelPassword"], timeout: steps.ParseDuration(callTimeout), red: env.Redactor, log: env.Logger}
	if t.red == nil {
		t.red = &secret.Redactor{}
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.red.Add(t.password)
	t.red.Add(t.sentinelPassword)
	for _, s := range strings.Split(f["sentinels"], ",") {
		if s = strings.TrimSpace(s); s != "" {
			t.sentinels = append(t.sentinels, s)
		}
	}
	var errs []error
	if needAddr {
		if t.addr == "" {
			errs = append(errs, fmt.Errorf("connection %s has no addr", t.name))
		} else if err := checkAddr("addr", t.addr); err != nil {
			errs = append(errs, fmt.Errorf("connection %s: %w", t.name, err))
		}
	}
	if needSentinels {
		if len(t.sentinels) == 0 {
			errs = append(errs, fmt.Errorf("connection %s has no sentinels", t.name))
		}
		for i, s := range t.sentinels {
			if err := checkAddr(fmt.Sprintf("sentinels[%d]", i), s); err != nil {
				errs = append(errs, fmt.Errorf("connection %s: %w", t.name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, steps.Permanent(fmt.Errorf("%s: %w", kind, err))
	}
	return t, nil
}

func (t *target) opts(addr, password string) *goredis.Options {
	return &goredis.Options{Addr: addr, Password: password, DialTimeout: t.timeout, ReadTimeout: t.timeout,
		WriteTimeout: t.timeout, MaxRetries: -1, DialerRetries: 1, PoolSize: 2, ContextTimeoutEnabled: true,
		DisableIdentity: true}
}

// node returns a client for a Redis server (with the connection password).
func (t *target) node(addr string) *goredis.Client {
	return goredis.NewClient(t.opts(addr, t.password))
}

// sentinel returns a client for one Sentinel.
func (t *target) sentinel(addr string) *goredis.SentinelClient {
	return goredis.NewSentinelClient(t.opts(addr, t.sentinelPassword))
}

// call bounds one command by the call timeout.
func (t *target) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, t.timeout, fmt.Errorf("redis call timed out after %s", t.timeout))
}

// wrap adds what was being done and scrubs passwords; authentication
// failures are permanent.
func (t *target) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", t.timeout, err)
	}
	err = t.red.ScrubError(fmt.Errorf("%s: %w", msg, err))
	s := err.Error()
	if strings.Contains(s, "WRONGPASS") || strings.Contains(s, "NOAUTH") || strings.Contains(s, "invalid password") {
		return steps.Permanent(err)
	}
	return err
}

// roleInfo is the answer to ROLE.
type roleInfo struct {
	role       string // master, slave, sentinel
	masterAddr string // for a replica
	link       string // for a replica: connect, connecting, sync, connected
	offset     int64
}

func (t *target) role(ctx context.Context, c *goredis.Client) (roleInfo, error) {
	ctx, cancel := t.call(ctx)
	defer cancel()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return roleInfo{}, err
	}
	if len(v) == 0 {
		return roleInfo{}, errors.New("empty ROLE reply")
	}
	r := roleInfo{role: fmt.Sprint(v[0])}
	switch r.role {
	case "master":
		if len(v) > 1 {
			r.offset = toInt(v[1])
		}
	case "slave":
		if len(v) >= 5 {
			r.masterAddr = net.JoinHostPort(fmt.Sprint(v[1]), fmt.Sprint(v[2]))
			r.link = fmt.Sprint(v[3])
			r.offset = toInt(v[4])
		}
	}
	return r, nil
}

// infoReplication parses INFO replication into a map.
func (t *target) infoReplication(ctx context.Context, c *goredis.Client) (map[string]string, error) {
	ctx, cancel := t.call(ctx)
	defer cancel()
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// masterOf asks one sentinel where masterName is.
func (t *target) masterOf(ctx context.Context, sentinelAddr, masterName string) (string, error) {
	sc := t.sentinel(sentinelAddr)
	defer sc.Close()
	ctx, cancel := t.call(ctx)
	defer cancel()
	v, err := sc.GetMasterAddrByName(ctx, masterName).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil // not monitored
	}
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("unexpected reply %v", v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// sentinelView is what every sentinel says about masterName.
type sentinelView struct {
	masters map[string]string // sentinel -> master addr ("" = not monitored)
	errs    map[string]error  // sentinel -> error
}

func (t *target) sentinelViews(ctx context.Context, masterName string) sentinelView {
	v := sentinelView{masters: map[string]string{}, errs: map[string]error{}}
	type res struct {
		s, m string
		err  error
	}
	ch := make(chan res, len(t.sentinels))
	for _, s := range t.sentinels {
		go func() {
			m, err := t.masterOf(ctx, s, masterName)
			ch <- res{s, m, err}
		}()
	}
	for range t.sentinels {
		r := <-ch
		if r.err != nil {
			v.errs[r.s] = t.wrap(r.err, "sentinel %s", r.s)
		} else {
			v.masters[r.s] = r.m
		}
	}
	return v
}

// describe renders the views in sentinel order, for summaries.
func (v sentinelView) describe(order []string) string {
	var parts []string
	for _, s := range order {
		switch {
		case v.errs[s] != nil:
			parts = append(parts, fmt.Sprintf("%s: unreachable (%v)", s, v.errs[s]))
		case v.masters[s] == "":
			parts = append(parts, fmt.Sprintf("%s: not monitoring", s))
		default:
			parts = append(parts, fmt.Sprintf("%s → %s", s, v.masters[s]))
		}
	}
	return strings.Join(parts, "; ")
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func sameAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	norm := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(ah) == norm(bh) && ap == bp
}
