// Package kube starts a real Kubernetes control plane on loopback for the
// lab and the tests: etcd, kube-apiserver (RBAC, ServiceAccount tokens),
// kube-controller-manager, kube-scheduler, and KWOK as the kubelet of N fake
// nodes, so that Deployments really create ReplicaSets and Pods that become
// Ready. The binaries come from scripts/kube-bin (FindBinDir).
//
// Everything listens on free 127.0.0.1 ports; the PKI is made in Go. The
// fake nodes carry no taint (workloads need no toleration), report
// Options.NodeCPU/NodeMemory/NodePods as capacity, and their kubelet
// endpoint is KWOK's server (InternalIP 127.0.0.1, KubeletAddr), so
// the API server's pods/log, exec and port-forward reach KWOK. KWOK serves
// every container's log from the file LogFile (SetContainerLog sets what
// kubectl logs returns). Exec runs commands on this machine either
// through KWOK (a ClusterExec in Options.KWOKConfig; a non-zero exit then
// reads as an internal error) or, with Options.Exec, through a kubelet
// endpoint here in front of KWOK that reports exit codes as a kubelet does.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/freeport"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Defaults of Options.
const (
	DefaultNodes      = 2
	DefaultNodeCPU    = "32"
	DefaultNodeMemory = "256Gi"
	DefaultNodePods   = "250"
	DefaultName       = "kube"
	// NodeAnnotation marks the nodes KWOK manages.
	NodeAnnotation = "kwok.x-k8s.io/node"
)

// Options configure a cluster. The zero value is fine.
type Options struct {
	// Name names the cluster in its kubeconfig (cluster, user and context),
	// its nodes (<name>-node-<i>) and its CA (default "kube").
	Name string
	// BinDir holds the binaries (default: FindBinDir).
	BinDir string
	// Dir is where the cluster keeps its PKI, etcd data, kubeconfigs and
	// logs (created when missing). By default a temporary directory that
	// Stop removes; a given Dir is left in place.
	Dir string
	// Nodes is the number of fake nodes (default 2).
	Nodes int
	// NodeLabels are added to every node (kubernetes.io/hostname and
	// type=kwok are always set).
	NodeLabels map[string]string
	// NodeCPU, NodeMemory and NodePods are each node's capacity and
	// allocatable (defaults 32, 256Gi, 250).
	NodeCPU, NodeMemory, NodePods string
	// KWOKConfig are more KWOK configuration documents (YAML) appended
	// to its --config after the stages and the ClusterLogs that serves
	// LogFile: a ClusterExec, say, whose "local" target runs
	// `kubectl exec` commands on this machine.
	KWOKConfig []string
	// Exec, when set, runs the commands exec'd into pods (kubectl exec)
	// instead of KWOK, reporting their exit codes as a kubelet does
	// (KWOK reports a non-zero exit as an internal error): every node's
	// kubelet endpoint is then a server here that serves exec with Exec
	// and passes the rest (logs, port-forward) to KWOK.
	Exec Exec
	// KeepOnParentDeath leaves the processes running if this process dies
	// (by default the kernel kills them).
	KeepOnParentDeath bool
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running control plane.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool

	pki             *pki
	admin           *keyPair
	etcdPort        int
	apiPort         int
	kubeletPort     int // every node's kubelet endpoint
	kwokPort        int // KWOK's server: kubeletPort unless a front serves Exec
	kubeletFront    *http.Server
	adminKubeconfig string

	etcd, apiserver, controllerManager, scheduler, kwok *proc

	startup  time.Duration
	stopOnce sync.Once
	stopErr  error
}

// Start brings a cluster up and returns once /readyz answers, the
// controller-manager and scheduler report healthy, every node is Ready
// and untainted and the "default" ServiceAccount exists. On error
// everything started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Nodes <= 0 {
		opts.Nodes = DefaultNodes
	}
	opts.NodeCPU = or(opts.NodeCPU, DefaultNodeCPU)
	opts.NodeMemory = or(opts.NodeMemory, DefaultNodeMemory)
	opts.NodePods = or(opts.NodePods, DefaultNodePods)
	c := &Cluster{opts: opts, log: opts.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.opts.BinDir == "" {
		dir, err := FindBinDir(ctx)
		if err != nil {
			return nil, err
		}
		c.opts.BinDir = dir
	} else if err := checkBinDir(c.opts.BinDir); err != nil {
		return nil, fmt.Errorf("kube %s: %w", opts.Name, err)
	}
	var err error
	if opts.Dir != "" {
		c.dir = opts.Dir
		err = os.MkdirAll(c.dir, 0o700)
	} else {
		c.dir, err = os.MkdirTemp("", "kube-"+opts.Name+"-")
		c.tempDir = true
	}
	if err != nil {
		return nil, fmt.Errorf("kube %s: make its directory: %w", opts.Name, err)
	}
	if err := c.start(ctx); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("kube %s: %w", opts.Name, err)
	}
	c.startup = time.Since(began)
	c.log.InfoContext(ctx, "kubernetes up", "cluster", opts.Name, "server", c.Server(), "nodes", opts.Nodes,
		"took", c.startup.Round(time.Millisecond))
	return c, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *Cluster) start(ctx context.Context) error {
	// Each port stays bound here until just before its process starts:
	// KWOK starts seconds after the ports are found, and another process
	// could take a released port meanwhile.
	held, err := freeport.Hold(7)
	if err != nil {
		return err
	}
	defer func() {
		for _, h := range held {
			h.Release()
		}
	}()
	etcd, api, kubelet, peer, cm, sched, kwok := held[0], held[1], held[2], held[3], held[4], held[5], held[6]
	c.etcdPort, c.apiPort, c.kubeletPort, c.kwokPort = etcd.Port, api.Port, kubelet.Port, kubelet.Port
	if c.opts.Exec != nil {
		c.kwokPort = kwok.Port
	}
	if err := c.writeConfig(); err != nil {
		return err
	}
	if c.opts.Exec != nil {
		if err := c.startKubeletFront(kubelet.Listener()); err != nil {
			return err
		}
	}
	began := time.Now()
	etcd.Release()
	peer.Release()
	if err := c.startEtcd(ctx, peer.Port); err != nil {
		return err
	}
	api.Release()
	c.log.DebugContext(ctx, "etcd up", "cluster", c.opts.Name, "took", time.Since(began).Round(time.Millisecond))
	if err := c.startAPIServer(ctx); err != nil {
		return err
	}
	c.log.DebugContext(ctx, "kube-apiserver ready", "cluster", c.opts.Name, "took", time.Since(began).Round(time.Millisecond))
	client, err := c.Clientset()
	if err != nil {
		return err
	}
	errs := make(chan error, 4)
	cm.Release()
	sched.Release()
	kubelet.Release()
	kwok.Release()
	go func() { errs <- c.startControllerManager(ctx, cm.Port) }()
	go func() { errs <- c.startScheduler(ctx, sched.Port) }()
	go func() { errs <- c.startKWOK(ctx) }()
	go func() { errs <- c.createNodes(ctx, client) }()
	var all []error
	for range 4 {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	c.log.DebugContext(ctx, "controller-manager and scheduler healthy, kwok started", "cluster", c.opts.Name,
		"took", time.Since(began).Round(time.Millisecond))
	if err := c.waitNodesReady(ctx, client); err != nil {
		return err
	}
	c.log.DebugContext(ctx, "nodes ready", "cluster", c.opts.Name, "took", time.Since(began).Round(time.Millisecond))
	return c.waitDefaultServiceAccount(ctx, client, "default")
}

// Name is the cluster's name (Options.Name).
func (c *Cluster) Name() string { return c.opts.Name }

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// StartupTime is how long Start took.
func (c *Cluster) StartupTime() time.Duration { return c.startup }

// Server is the API server's URL (https://127.0.0.1:port).
func (c *Cluster) Server() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.apiPort))
}

// APIServerAddr is the API server's host:port.
func (c *Cluster) APIServerAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.apiPort))
}

// KubeletAddr is every node's kubelet endpoint: KWOK's server, or with
// Options.Exec the server in front of it.
func (c *Cluster) KubeletAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.kubeletPort))
}

// CAData is the cluster CA's certificate (PEM).
func (c *Cluster) CAData() []byte { return c.pki.caPEM }

// LogFile is the file KWOK serves as every container's log (pods/log),
// in the CRI log format; SetContainerLog writes it.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "container.log") }

// NodeNames are the fake nodes' names.
func (c *Cluster) NodeNames() []string {
	names := make([]string, c.opts.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("%s-node-%d", c.opts.Name, i)
	}
	return names
}

// RESTConfig is a new admin (system:masters) client configuration for the
// API server, with QPS 100 and burst 200 and no overall timeout (callers
// bound their requests with contexts, or set Timeout).
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: c.Server(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: c.pki.caPEM, CertData: c.admin.CertPEM, KeyData: c.admin.KeyPEM,
		},
		QPS: 100, Burst: 200,
		UserAgent: "failover-bot-lab",
	}
}

// Clientset is an admin clientset of RESTConfig.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("kube %s: clientset: %w", c.opts.Name, err)
	}
	return cs, nil
}

// RSSBytes is the resident memory of the cluster's processes, added up.
func (c *Cluster) RSSBytes() int64 {
	var n int64
	for _, p := range c.procs() {
		if p != nil {
			n += p.rssBytes()
		}
	}
	return n
}

// procs in start order.
func (c *Cluster) procs() []*proc {
	return []*proc{c.etcd, c.apiserver, c.controllerManager, c.scheduler, c.kwok}
}

// KillAPIServer SIGKILLs the API server, as a lost machine would; etcd,
// the controllers and KWOK keep running and reconnect once it is back.
func (c *Cluster) KillAPIServer() error {
	if err := c.apiserver.kill(); err != nil {
		return fmt.Errorf("kube %s: %w", c.opts.Name, err)
	}
	c.log.Info("kube-apiserver killed", "cluster", c.opts.Name)
	return nil
}

// APIServerRunning reports whether the API server process is alive.
func (c *Cluster) APIServerRunning() bool { return c.apiserver.running() }

// RestartAPIServer starts the API server again on its port, with its
// flags and etcd's data, and waits for /readyz (no-op while it runs).
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if c.apiserver.running() {
		return nil
	}
	if err := c.startAPIServer(ctx); err != nil {
		return fmt.Errorf("kube %s: %w", c.opts.Name, err)
	}
	c.log.InfoContext(ctx, "kube-apiserver restarted", "cluster", c.opts.Name)
	return nil
}

// Stop kills the processes in reverse order (KWOK, scheduler,
// controller-manager, API server, etcd: an API server still serving their
// watches made one teardown take 23 s) and removes a temporary directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.kubeletFront != nil {
			errs = append(errs, c.kubeletFront.Close())
		}
		procs := c.procs()
		for i := len(procs) - 1; i >= 0; i-- {
			if procs[i] != nil {
				errs = append(errs, procs[i].kill())
			}
		}
		if c.tempDir && c.dir != "" {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}
