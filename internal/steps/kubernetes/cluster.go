package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Client-side rate limits of a step's client: far above what one step
// asks, so that steps running in parallel are never throttled here.
const (
	clientQPS   = 50
	clientBurst = 100
)

// checkConnection loads the connection's kubeconfig and context as a step
// would, without a network call: a file or a context that does not exist
// is found by preflight, before a run starts.
func checkConnection(_ context.Context, c *steps.Connection) error {
	_, err := restConfig(c)
	return err
}

// restConfig is the client configuration of a connection: the kubeconfig
// file (its field, else $KUBECONFIG, else ~/.kube/config) and the context
// (its field, else the file's current one), else the in-cluster
// configuration of the bot's own pod. Errors name the connection and the
// file, never a credential.
func restConfig(c *steps.Connection) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if p := c.Fields["kubeconfig"]; p != "" {
		rules.ExplicitPath = p
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Fields["context"]}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, steps.Permanentf("kubernetes connection %s: %v", c.Name, err)
	}
	return cfg, nil
}

// cluster is the API server of a step's connection, with the deadline of
// every request, the redactor and the clients, made on first use.
type cluster struct {
	kind    string // the step kind, for messages
	conn    string // the connection's name
	cfg     *rest.Config
	timeout time.Duration
	red     *secret.Redactor
	log     *slog.Logger
	// wrapTransport, if set, wraps every client's transport (tests count
	// the requests with it).
	wrapTransport func(http.RoundTripper) http.RoundTripper

	mu       sync.Mutex
	hc       *http.Client
	dyn      *dynamic.DynamicClient
	typed    *kubernetes.Clientset
	mapper   meta.RESTMapper
	identity string
}

// newCluster makes the cluster of a step: it parses the connection, makes
// no request.
func newCluster(kind string, env steps.Env, requestTimeout string) (*cluster, error) {
	if env.Conn == nil {
		return nil, steps.Permanentf("%s: needs a kubernetes connection", kind)
	}
	cfg, err := restConfig(env.Conn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	timeout := steps.ParseDuration(requestTimeout)
	if timeout <= 0 {
		timeout = steps.ParseDuration(DefaultRequestTimeout)
	}
	red := env.Redactor
	if red == nil {
		red = &secret.Redactor{}
	}
	red.Add(cfg.BearerToken)
	red.Add(cfg.Password)
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every request runs under a context with its own deadline; the
	// client's Timeout would also end watches, so it stays 0. Dialling
	// and the TLS handshake are bounded too: a blackholed API server
	// accepts nothing and answers nothing.
	cfg.Timeout = 0
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.UserAgent = "failover-bot"
	cfg.WarningHandler = rest.NoWarnings{}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	cfg.Dial = dialer.DialContext
	return &cluster{kind: kind, conn: env.Conn.Name, cfg: cfg, timeout: timeout, red: red, log: log}, nil
}

// config is a copy of the client configuration with the test wrapper.
func (c *cluster) config() *rest.Config {
	cfg := rest.CopyConfig(c.cfg)
	if c.wrapTransport != nil {
		cfg.Wrap(c.wrapTransport)
	}
	return cfg
}

func (c *cluster) httpClient() (*http.Client, error) {
	if c.hc == nil {
		hc, err := rest.HTTPClientFor(c.config())
		if err != nil {
			return nil, steps.Permanentf("%s: client of connection %s: %v", c.kind, c.conn, err)
		}
		c.hc = hc
	}
	return c.hc, nil
}

// dynamic is the dynamic client, for any resource.
func (c *cluster) dynamic() (*dynamic.DynamicClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dyn == nil {
		hc, err := c.httpClient()
		if err != nil {
			return nil, err
		}
		if c.dyn, err = dynamic.NewForConfigAndClient(c.config(), hc); err != nil {
			return nil, steps.Permanentf("%s: dynamic client of connection %s: %v", c.kind, c.conn, err)
		}
	}
	return c.dyn, nil
}

// clientset is the typed client (logs, exec, identity).
func (c *cluster) clientset() (*kubernetes.Clientset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.typed == nil {
		hc, err := c.httpClient()
		if err != nil {
			return nil, err
		}
		if c.typed, err = kubernetes.NewForConfigAndClient(c.config(), hc); err != nil {
			return nil, steps.Permanentf("%s: client of connection %s: %v", c.kind, c.conn, err)
		}
	}
	return c.typed, nil
}

// restMapper maps kubectl-style resources ("svc", "configmap",
// "deployments.apps") to API resources through discovery, as kubectl
// does. Discovery has no context parameter: its client carries the
// request timeout.
func (c *cluster) restMapper() (meta.RESTMapper, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mapper == nil {
		cfg := c.config()
		cfg.Timeout = c.timeout
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return nil, steps.Permanentf("%s: discovery client of connection %s: %v", c.kind, c.conn, err)
		}
		cached := memory.NewMemCacheClient(dc)
		c.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	}
	return c.mapper, nil
}

// resource is an API resource found by discovery.
type resource struct {
	gvr        schema.GroupVersionResource
	gvk        schema.GroupVersionKind
	namespaced bool
}

// String is how messages name it: "deployments.apps", "configmaps".
func (r resource) String() string { return r.gvr.GroupResource().String() }

// lookup maps a kubectl-style resource name through discovery. An unknown
// resource is a permanent error; an unreachable API server is not.
func (c *cluster) lookup(ctx context.Context, name string) (resource, error) {
	m, err := c.restMapper()
	if err != nil {
		return resource{}, err
	}
	full, gr := schema.ParseResourceArg(name)
	var cands []schema.GroupVersionResource
	if full != nil {
		cands = append(cands, *full) // resource.version.group, as kubectl tries first
	}
	cands = append(cands, gr.WithVersion(""))
	type found struct {
		r   resource
		err error
	}
	ch := make(chan found, 1)
	go func() {
		var err error
		for _, gvr := range cands {
			var r resource
			if r, err = mapResource(m, gvr); err == nil {
				ch <- found{r: r}
				return
			}
		}
		ch <- found{err: err}
	}()
	// Discovery honours its client's timeout; the step's context may end
	// sooner.
	select {
	case f := <-ch:
		if f.err != nil {
			return resource{}, c.wrap(ctx, f.err, call{verb: "discover", resource: name})
		}
		return f.r, nil
	case <-ctx.Done():
		return resource{}, c.wrap(ctx, context.Cause(ctx), call{verb: "discover", resource: name})
	}
}

// mapResource maps a partial resource to its API resource and kind.
func mapResource(m meta.RESTMapper, gvr schema.GroupVersionResource) (resource, error) {
	full, err := m.ResourceFor(gvr)
	if err != nil {
		return resource{}, err
	}
	gvk, err := m.KindFor(full)
	if err != nil {
		return resource{}, err
	}
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return resource{}, err
	}
	return resource{gvr: mapping.Resource, gvk: gvk, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// call bounds one request by the request timeout, naming it when it fires.
func (c *cluster) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.timeout,
		fmt.Errorf("no answer from the API server of %s (%s) within %s", c.conn, c.cfg.Host, c.timeout))
}

// close releases the idle connections of the step's clients.
func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
}
