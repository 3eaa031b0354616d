package lab

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// Status is a snapshot of the lab.
type Status struct {
	Dir string `json:"dir"`
	// Failed is how the primary region was failed ("" when healthy).
	Failed   FailMode  `json:"failed,omitempty"`
	Services []Service `json:"services"`
}

// Service is the observed state of one lab service.
type Service struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	// Addr is where clients reach it (the proxy for the primary region).
	Addr string `json:"addr"`
	// Up reports whether it answered within the probe timeout.
	Up bool `json:"up"`
	// Role is "primary"/"standby" (PostgreSQL), "master"/"slave"
	// (Redis), "sentinel", "http" or "kubernetes".
	Role string `json:"role,omitempty"`
	// Detail is the observed state or the error, one line.
	Detail string `json:"detail,omitempty"`
}

// String renders the status as a table for `bot lab status`.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s", s.Dir)
	if s.Failed != "" {
		fmt.Fprintf(&b, " (primary region failed: %s)", s.Failed)
	}
	b.WriteString("\n")
	for _, sv := range s.Services {
		state := "down"
		if sv.Up {
			state = "up"
		}
		fmt.Fprintf(&b, "  %-8s %-18s %-22s %-5s %-9s %s\n", sv.Region, sv.Name, sv.Addr, state, sv.Role, sv.Detail)
	}
	return b.String()
}

const probeTimeout = time.Second

// probe is one service and how to probe it: it returns the role and a
// detail, or an error.
type probe struct {
	svc   Service
	probe func(context.Context) (string, string, error)
}

// Status probes every service (each within one second, all at once).
func (l *Lab) Status(ctx context.Context) Status {
	l.mu.Lock()
	failed := l.failed
	l.mu.Unlock()
	env := l.Env()
	probes := []probe{
		{Service{Name: "postgres", Region: "primary", Addr: l.pgProxy.Addr()}, pgProbe(env["LAB_PG_PRIMARY_DSN"])},
		{Service{Name: "postgres", Region: "dr", Addr: fmt.Sprintf("127.0.0.1:%d", l.pgStandbyPort)}, pgProbe(env["LAB_PG_STANDBY_DSN"])},
		{Service{Name: "redis", Region: "primary", Addr: l.redisProxy.Addr()}, redisProbe(l.redisProxy.Addr(), l.opts.RedisPassword)},
		{Service{Name: "redis", Region: "dr", Addr: l.redisReplica.Addr()}, redisProbe(l.redisReplica.Addr(), l.opts.RedisPassword)},
		{Service{Name: "http", Region: "primary", Addr: l.httpProxy.Addr()}, httpProbe(l.httpProxy.Addr())},
		{Service{Name: "http", Region: "dr", Addr: l.httpDR.Addr()}, httpProbe(l.httpDR.Addr())},
	}
	for i, s := range l.sentinels {
		probes = append(probes, probe{Service{Name: fmt.Sprintf("sentinel-%d", i+1), Region: "dr", Addr: s.Addr()}, sentinelProbe(s.Addr())})
	}
	if l.kube != nil {
		probes = append(probes, l.kube.probes()...)
	}
	st := Status{Dir: l.dir, Failed: failed, Services: make([]Service, len(probes))}
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			svc := p.svc
			role, detail, err := p.probe(pctx)
			svc.Up, svc.Role, svc.Detail = err == nil, role, detail
			if err != nil {
				svc.Detail = firstLine(strings.ReplaceAll(strings.ReplaceAll(err.Error(),
					l.opts.PGPassword, "[redacted]"), l.opts.RedisPassword, "[redacted]"))
			}
			st.Services[i] = svc
		}()
	}
	wg.Wait()
	return st
}

func pgProbe(dsn string) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return "", "", err
		}
		defer conn.Close(context.Background())
		var recovery bool
		var lsn string
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery(),
			COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text`).Scan(&recovery, &lsn); err != nil {
			// pg_current_wal_lsn fails during recovery only if replay is null.
			return "", "", err
		}
		if recovery {
			return "standby", "replayed " + lsn, nil
		}
		return "primary", "at " + lsn, nil
	}
}

func redisProbe(addr, password string) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		c := goredis.NewClient(redisOpts(addr, password))
		defer c.Close()
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return "", "", err
		}
		r, _ := role[0].(string)
		if r == "slave" && len(role) >= 4 {
			return r, fmt.Sprintf("of %v:%v, link %v", role[1], role[2], role[3]), nil
		}
		return r, "", nil
	}
}

// sentinelFields is one entry of SENTINEL MASTERS (a flat list of field
// names and values, or a map over RESP3) as a map.
func sentinelFields(m any) map[string]string {
	f := map[string]string{}
	switch m := m.(type) {
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			f[fmt.Sprint(m[i])] = fmt.Sprint(m[i+1])
		}
	case map[any]any:
		for k, v := range m {
			f[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return f
}

func sentinelProbe(addr string) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		c := goredis.NewSentinelClient(redisOpts(addr, ""))
		defer c.Close()
		masters, err := c.Masters(ctx).Result()
		if err != nil {
			return "sentinel", "", err
		}
		var names []string
		for _, m := range masters {
			f := sentinelFields(m)
			names = append(names, f["name"]+" at "+net.JoinHostPort(f["ip"], f["port"]))
		}
		if len(names) == 0 {
			return "sentinel", "monitors no master", nil
		}
		sort.Strings(names)
		return "sentinel", "master " + strings.Join(names, ", "), nil
	}
}

func httpProbe(addr string) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "http", "", err
		}
		defer c.Close()
		dl, _ := ctx.Deadline()
		_ = c.SetDeadline(dl)
		if _, err := c.Write([]byte("GET /health HTTP/1.0\r\nHost: lab\r\n\r\n")); err != nil {
			return "http", "", err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return "http", "", err
		}
		return "http", firstLine(string(buf[:n])), nil
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
