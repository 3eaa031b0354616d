// Package lab runs a local two-region lab on loopback: a "primary region"
// (PostgreSQL primary, Redis master, an HTTP health endpoint, each behind a
// TCP proxy that can refuse or blackhole connections) and a "DR region"
// (a PostgreSQL streaming standby, a Redis replica, three Redis Sentinels,
// an HTTP health endpoint). It is what the step kinds are tested against
// and what `bot lab up` and `make demo` run.
//
// Everything runs from the Debian packages (postgresql, redis-server,
// redis-sentinel) on free ports in one temporary directory. Replication
// (the standby's WAL stream, the Redis replica link) and the Sentinels go
// through the primary region's proxies, so failing the region cuts them too.
//
// With Options.Kubernetes each region also has a Kubernetes cluster
// (package kube: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, KWOK nodes). One kubeconfig (Kubeconfig, $KUBECONFIG in
// Env) has the contexts lab-primary, whose server is a proxy in front of
// the primary API server, and lab-dr. Failing the primary region fails
// its API server with the rest (see FailPrimary).
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/pgserver"
)

// MasterName is the name the Sentinels monitor the lab's Redis under.
const MasterName = "labmaster"

// Options configure a lab. The zero value is fine.
type Options struct {
	// Dir is the parent of the lab's temporary directory (default: the
	// system temp dir).
	Dir string
	// PGPassword and RedisPassword default to random values.
	PGPassword    string
	RedisPassword string
	// KeepOnParentDeath leaves the servers running if this process dies
	// (by default the kernel kills them, so crashed tests leak nothing).
	KeepOnParentDeath bool
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Kubernetes adds a Kubernetes cluster to each region (a few seconds
	// more and about 0.6 GB of memory per cluster). It needs the binaries
	// that `make kube-bin` builds.
	Kubernetes bool
	// KubeBinDir holds those binaries (default: kube.FindBinDir).
	KubeBinDir string
	// KubeNodes is the number of fake nodes per cluster (default 2).
	KubeNodes int
	// AWS, if set, also serves a local AWS (aws.go).
	AWS *AWSOptions
	// Seeds readies the lab for the shipped seed runbooks (mimir-*,
	// maip-*; seeds.go): their workloads in both clusters, and the edge
	// (edge.go) that serves their public names. It needs Kubernetes and AWS.
	Seeds bool
}

// FailMode is how the primary region fails.
type FailMode string

// The ways a region fails.
const (
	// FailStop kills the primary region's processes (PostgreSQL and Redis
	// with SIGKILL, as a lost machine would: no clean shutdown; the HTTP
	// endpoint closes): ports then accept and close at once.
	FailStop FailMode = "stop"
	// FailRefuse closes the primary region's ports: connections are refused.
	FailRefuse FailMode = "refuse"
	// FailBlackhole makes the primary region's ports accept connections
	// and never answer, and stalls the open ones: a dropped network.
	FailBlackhole FailMode = "blackhole"
)

// Lab is a running lab.
type Lab struct {
	opts Options
	log  *slog.Logger
	dir  string

	pgBin                string
	pgPrimary, pgStandby *pgserver.Server
	pgPrimaryPort        int
	pgStandbyPort        int
	pgPrimaryData        string
	pgStandbyData        string
	pgProxy              *proxy

	redisMaster, redisReplica *redisProc
	sentinels                 []*redisProc
	redisProxy                *proxy
	seedsRedis                *seedsRedis // nil without Options.Seeds

	httpPrimary, httpDR *healthServer
	saas                *saas // the Statuspage and PagerDuty fakes (saas.go)
	httpProxy           *proxy

	kube *kubeLab // nil without Options.Kubernetes
	aws  *AWS     // nil without Options.AWS
	edge *edge    // nil without Options.Seeds

	mu       sync.Mutex
	failed   FailMode
	startup  time.Duration
	downOnce sync.Once
	downErr  error
}

// Up starts a lab and returns when every service answers, the standby
// streams from the primary, the Redis replica's link is up and the
// Sentinels know the replica. On error everything started is stopped.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	start := time.Now()
	l := &Lab{opts: opts, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.opts.PGPassword == "" {
		l.opts.PGPassword = randomSecret()
	}
	if l.opts.RedisPassword == "" {
		l.opts.RedisPassword = randomSecret()
	}
	var err error
	if l.pgBin, err = pgserver.FindBinDir(); err != nil {
		return nil, err
	}
	if opts.Kubernetes && opts.KubeBinDir == "" {
		// Before anything starts: the error says how to build them.
		if l.opts.KubeBinDir, err = kube.FindBinDir(ctx); err != nil {
			return nil, fmt.Errorf("lab: kubernetes: %w", err)
		}
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("lab: make %s: %w", opts.Dir, err)
		}
		l.dir, err = os.MkdirTemp(opts.Dir, "lab-")
		if err == nil {
			err = pgserver.Chown(l.dir)
		}
	} else {
		l.dir, err = pgserver.MkdirTemp("lab-")
	}
	if err != nil {
		return nil, fmt.Errorf("lab: make the lab directory: %w", err)
	}
	ups := []func() error{
		func() error { return l.upPostgres(ctx) },
		func() error { return l.upRedis(ctx) },
		func() error { return errors.Join(l.upHTTP(), l.upSaaS()) },
	}
	if opts.Kubernetes {
		ups = append(ups, func() error { return l.upKubernetes(ctx) })
	}
	errs := make(chan error, len(ups))
	for _, up := range ups {
		go func() { errs <- up() }()
	}
	var all []error
	for range ups {
		all = append(all, <-errs)
	}
	all = append(all, l.upAWS(ctx))
	if errors.Join(all...) == nil {
		all = append(all, l.upSeeds(ctx))
	}
	if err := errors.Join(all...); err != nil {
		_ = l.Down(context.Background())
		return nil, fmt.Errorf("lab up: %w", err)
	}
	l.startup = time.Since(start)
	l.log.InfoContext(ctx, "lab up", "dir", l.dir, "took", l.startup.Round(time.Millisecond))
	return l, nil
}

// StartupTime is how long Up took.
func (l *Lab) StartupTime() time.Duration { return l.startup }

// Dir is the lab's directory (data directories, configs, logs).
func (l *Lab) Dir() string { return l.dir }

func (l *Lab) upHTTP() error {
	var err error
	if l.httpPrimary, err = newHealthServer("primary"); err != nil {
		return err
	}
	if l.httpDR, err = newHealthServer("dr"); err != nil {
		return err
	}
	l.httpProxy, err = newProxy("http-primary", l.httpPrimary.Addr())
	return err
}

// Env returns the LAB_* facts of the lab (addresses, DSNs, passwords).
// Values holding passwords (*_DSN, *_PASSWORD) are secrets. RunbookEnv
// names them as the lab runbooks read them, through ${env:…} and
// ${secret:…}. With Kubernetes it also holds KUBECONFIG (= LAB_KUBECONFIG,
// the lab's kubeconfig: it holds admin client keys, so it is 0600),
// LAB_KUBE_PRIMARY_CONTEXT, LAB_KUBE_DR_CONTEXT and the two API servers'
// URLs LAB_KUBE_PRIMARY_SERVER (the proxy) and LAB_KUBE_DR_SERVER.
func (l *Lab) Env() map[string]string {
	pgProxyPort := l.pgProxy.port
	sentinels := make([]string, len(l.sentinels))
	for i, s := range l.sentinels {
		sentinels[i] = s.Addr()
	}
	rhost, rport, _ := net.SplitHostPort(l.redisProxy.Addr())
	dhost, dport, _ := net.SplitHostPort(l.redisReplica.Addr())
	env := map[string]string{
		"LAB_DIR":                      l.dir,
		"LAB_PG_BIN":                   l.pgBin,
		"LAB_PG_PASSWORD":              l.opts.PGPassword,
		"LAB_PG_PRIMARY_DSN":           l.pgDSN(pgProxyPort),
		"LAB_PG_PRIMARY_DIRECT_DSN":    l.pgDSN(l.pgPrimaryPort),
		"LAB_PG_STANDBY_DSN":           l.pgDSN(l.pgStandbyPort),
		"LAB_PG_PRIMARY_DATA":          l.pgPrimaryData,
		"LAB_PG_STANDBY_DATA":          l.pgStandbyData,
		"LAB_PG_PRIMARY_START_OPTIONS": l.pgStartOptions(l.pgPrimaryPort),
		"LAB_PG_STANDBY_START_OPTIONS": l.pgStartOptions(l.pgStandbyPort),
		"LAB_REDIS_PASSWORD":           l.opts.RedisPassword,
		"LAB_REDIS_PRIMARY_ADDR":       l.redisProxy.Addr(),
		"LAB_REDIS_PRIMARY_HOST":       rhost,
		"LAB_REDIS_PRIMARY_PORT":       rport,
		"LAB_REDIS_DR_ADDR":            l.redisReplica.Addr(),
		"LAB_REDIS_DR_HOST":            dhost,
		"LAB_REDIS_DR_PORT":            dport,
		"LAB_REDIS_SENTINELS":          strings.Join(sentinels, ","),
		"LAB_REDIS_MASTER_NAME":        MasterName,
		"LAB_HTTP_PRIMARY_URL":         "http://" + l.httpProxy.Addr() + "/health",
		"LAB_HTTP_DR_URL":              "http://" + l.httpDR.Addr() + "/health",
	}
	if l.kube != nil {
		l.kube.env(env)
	}
	l.seedsEnv(env)
	return l.withAWSEnv(l.withSaaSEnv(env))
}

func (l *Lab) pgDSN(port int) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", l.opts.PGPassword),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// pgStartOptions are the postgres options a server restarted by pg_ctl
// (postgres.rejoinAsStandby) needs to listen where the lab expects it.
func (l *Lab) pgStartOptions(port int) string {
	return fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s", port, l.dir)
}

// FailPrimary fails the primary region in the given way. Failing an
// already failed region in another way is allowed (stop, then blackhole).
// With Kubernetes, the primary cluster's API server fails too: stop
// SIGKILLs it (its etcd, controllers and KWOK keep running), refuse and
// blackhole switch the proxy in front of it. The DR cluster is untouched.
func (l *Lab) FailPrimary(ctx context.Context, mode FailMode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	switch mode {
	case FailStop:
		errs = append(errs, l.killPostgres(l.pgPrimaryData), l.redisMaster.Stop(), l.seedsRedis.stopPrimarySentinels())
		l.httpPrimary.Stop()
		if l.edge != nil {
			l.edge.primary.Stop()
		}
		if l.kube != nil {
			errs = append(errs, l.kube.fail(mode))
		}
	case FailRefuse, FailBlackhole:
		pm := ModeRefuse
		if mode == FailBlackhole {
			pm = ModeBlackhole
		}
		for _, p := range l.primaryProxies() {
			errs = append(errs, p.SetMode(pm))
		}
		if l.kube != nil {
			errs = append(errs, l.kube.fail(mode))
		}
	default:
		return fmt.Errorf("lab: unknown failure mode %q (want stop, refuse or blackhole)", mode)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab: fail primary (%s): %w", mode, err)
	}
	l.failAWS(mode)
	l.failed = mode
	l.log.InfoContext(ctx, "primary region failed", "mode", mode)
	return nil
}

// RestorePrimary reopens the primary region's network (proxies forward
// again) and restarts its Redis and HTTP endpoint if they were stopped.
// PostgreSQL is not restarted: an old primary must rejoin as a standby
// (postgres.rejoinAsStandby), never come back as a second primary; the
// restarted Redis comes back as an empty master until it is made a replica.
// A killed Kubernetes API server is restarted (its state is in etcd) and
// RestorePrimary returns once it answers /readyz.
func (l *Lab) RestorePrimary(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, p := range l.primaryProxies() {
		errs = append(errs, p.SetMode(ModeForward))
	}
	if l.edge != nil {
		errs = append(errs, l.edge.primary.Start())
	}
	if !l.redisMaster.Running() {
		errs = append(errs, l.redisMaster.Start(ctx))
	}
	if l.seedsRedis != nil {
		errs = append(errs, l.seedsRedis.startPrimarySentinels(ctx))
	}
	errs = append(errs, l.httpPrimary.Start())
	if l.kube != nil {
		errs = append(errs, l.kube.restore(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab: restore primary: %w", err)
	}
	l.restoreAWS()
	l.failed = ""
	return nil
}

// Down stops everything and removes the lab directory. It is safe to call
// more than once.
func (l *Lab) Down(ctx context.Context) error {
	l.downOnce.Do(func() {
		var errs []error
		if l.kube != nil {
			errs = append(errs, l.kube.down())
		}
		if l.edge != nil {
			errs = append(errs, l.edge.close())
		}
		for _, p := range append([]*proxy{l.pgProxy, l.redisProxy, l.httpProxy}, l.seedsRedis.proxies()...) {
			if p != nil {
				errs = append(errs, p.Close())
			}
		}
		for _, h := range []*healthServer{l.httpPrimary, l.httpDR} {
			if h != nil {
				h.Stop()
			}
		}
		for _, r := range append([]*redisProc{l.redisMaster, l.redisReplica}, l.sentinels...) {
			if r != nil {
				errs = append(errs, r.Stop())
			}
		}
		errs = append(errs, l.seedsRedis.stopPrimarySentinels())
		errs = append(errs, l.stopPostgres(ctx, l.pgStandby, l.pgStandbyData),
			l.stopPostgres(ctx, l.pgPrimary, l.pgPrimaryData), l.downAWS())
		if l.dir != "" {
			errs = append(errs, os.RemoveAll(l.dir))
		}
		l.downSaaS()
		l.downErr = errors.Join(errs...)
		l.log.InfoContext(ctx, "lab down", "dir", l.dir)
	})
	return l.downErr
}

// primaryProxies are the proxies in front of the primary region's servers.
func (l *Lab) primaryProxies() []*proxy {
	ps := []*proxy{l.pgProxy, l.redisProxy, l.httpProxy}
	if l.seedsRedis != nil {
		ps = append(ps, l.seedsRedis.primary)
	}
	if l.edge != nil {
		ps = append(ps, l.edge.primaryProxy)
	}
	return ps
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "lab-" + hex.EncodeToString(b)
}

// healthServer is a region's HTTP health endpoint: GET /health answers 200
// {"status":"ok","region":…}. It can be stopped and started on its port.
type healthServer struct {
	region string
	port   int
	mu     sync.Mutex
	srv    *http.Server
}

func newHealthServer(region string) (*healthServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	h := &healthServer{region: region, port: port}
	return h, h.Start()
}

func (h *healthServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// Start serves on the endpoint's port (no-op when serving).
func (h *healthServer) Start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		return nil
	}
	ln, err := listenRetry("127.0.0.1", h.port)
	if err != nil {
		return fmt.Errorf("lab: health endpoint %s: %w", h.region, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","region":%q}`+"\n", h.region)
	})
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(h.srv)
	return nil
}

// Stop closes the endpoint (no-op when stopped).
func (h *healthServer) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

// Serving reports whether the endpoint is started.
func (h *healthServer) Serving() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.srv != nil
}

// path is a file or directory inside the lab directory.
func (l *Lab) path(name string) string { return filepath.Join(l.dir, name) }
