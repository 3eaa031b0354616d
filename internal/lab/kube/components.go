package kube

import (
	"context"
	"crypto/tls"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kwokStages are KWOK's default node and pod stages (see the file).
//
//go:embed kwok-stages.yaml
var kwokStages string

// The ranges of the cluster's Service and Pod IPs: addresses in objects
// only, never dialled (no kube-proxy, no pod network). The nodes' addresses
// are 127.0.0.1, KWOK's server.
const (
	serviceCIDR = "10.0.0.0/24"
	podCIDR     = "10.244.0.1/16"
	saIssuer    = "https://kubernetes.default.svc.cluster.local"
)

// Component kubeconfigs and certificates: each has its own identity (CN),
// all in system:masters (the lab's processes are trusted).
type component struct{ file, user string }

var (
	compControllerManager = component{"kube-controller-manager", "system:kube-controller-manager"}
	compScheduler         = component{"kube-scheduler", "system:kube-scheduler"}
	compKWOK              = component{"kwok", "system:kwok"}
)

func (c *Cluster) path(name string) string { return filepath.Join(c.dir, name) }

// writeConfig writes the PKI, the kubeconfigs, KWOK's configuration and
// the container log file.
func (c *Cluster) writeConfig() error {
	var err error
	if c.pki, err = newPKI(c.path("pki"), c.opts.Name); err != nil {
		return err
	}
	if c.admin, err = c.pki.client("admin", "admin", "system:masters"); err != nil {
		return err
	}
	c.adminKubeconfig = c.path("admin.kubeconfig")
	if err := clientcmd.WriteToFile(*c.Kubeconfig(c.opts.Name, ""), c.adminKubeconfig); err != nil {
		return fmt.Errorf("write %s: %w", c.adminKubeconfig, err)
	}
	for _, comp := range []component{compControllerManager, compScheduler, compKWOK} {
		kp, err := c.pki.client(comp.file, comp.user, "system:masters")
		if err != nil {
			return err
		}
		cfg := kubeconfig(comp.file, c.Server(), c.pki.caPEM, kp)
		if err := clientcmd.WriteToFile(*cfg, c.path(comp.file+".kubeconfig")); err != nil {
			return fmt.Errorf("write %s kubeconfig: %w", comp.file, err)
		}
	}
	if err := c.SetContainerLog("kwok fake container log"); err != nil {
		return err
	}
	conf := kwokStages + fmt.Sprintf(`---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: lab-container-log
spec:
  logs:
  - logsFile: %s
    follow: false
`, strconv.Quote(c.LogFile()))
	for _, doc := range c.opts.KWOKConfig {
		conf += "---\n" + strings.TrimPrefix(strings.TrimSpace(doc), "---\n") + "\n"
	}
	return writeFile(c.path("kwok.yaml"), []byte(conf))
}

// SetContainerLog replaces what pods/log (kubectl logs) returns for every
// container: the lines, written to LogFile in the CRI log format KWOK
// reads ("<RFC 3339 time> stdout F <line>").
func (c *Cluster) SetContainerLog(lines ...string) error {
	var b strings.Builder
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", now, l)
	}
	if err := writeFile(c.LogFile(), []byte(b.String())); err != nil {
		return fmt.Errorf("kube %s: container log: %w", c.opts.Name, err)
	}
	return nil
}

// Kubeconfig is an admin kubeconfig of the cluster with one cluster, user
// and context, all named contextName (the current context). server
// overrides the API server's URL (a proxy in front of it, say; "" for
// Server()).
func (c *Cluster) Kubeconfig(contextName, server string) *clientcmdapi.Config {
	if server == "" {
		server = c.Server()
	}
	return kubeconfig(contextName, server, c.pki.caPEM, c.admin)
}

// AdminKubeconfig is the path of the cluster's own admin kubeconfig (its
// context is named after the cluster).
func (c *Cluster) AdminKubeconfig() string { return c.adminKubeconfig }

func kubeconfig(name, server string, ca []byte, kp *keyPair) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return cfg
}

func (c *Cluster) newProc(name string, args ...string) *proc {
	return &proc{name: name, bin: filepath.Join(c.opts.BinDir, name), args: args,
		logPath: c.path(name + ".log"), keep: c.opts.KeepOnParentDeath}
}

func (c *Cluster) startEtcd(ctx context.Context, peerPort int) error {
	client := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.etcdPort))
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))
	c.etcd = c.newProc("etcd",
		"--name="+c.opts.Name, "--data-dir="+c.path("etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster="+c.opts.Name+"="+peer,
		"--unsafe-no-fsync", "--log-level=warn",
	)
	if err := c.etcd.start(); err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	return c.waitFor(ctx, 30*time.Second, "etcd healthy", []*proc{c.etcd}, func(ctx context.Context) error {
		return httpOK(ctx, hc, client+"/health", `"health":"true"`)
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	if c.apiserver == nil {
		saKey, saPub, err := c.pki.serviceAccountKeys()
		if err != nil {
			return err
		}
		serving, err := c.pki.serving("kube-apiserver",
			[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
			[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
		if err != nil {
			return err
		}
		kubeletClient, err := c.pki.client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
		if err != nil {
			return err
		}
		c.apiserver = c.newProc("kube-apiserver",
			"--etcd-servers=http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(c.etcdPort)),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(c.apiPort),
			"--cert-dir="+c.path("apiserver"),
			"--tls-cert-file="+serving.CertFile, "--tls-private-key-file="+serving.KeyFile,
			"--client-ca-file="+c.pki.caFile(),
			"--service-account-issuer="+saIssuer,
			"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
			"--service-cluster-ip-range="+serviceCIDR,
			"--authorization-mode=RBAC",
			// 127.0.0.1 is no endpoint for the kubernetes Service: without
			// this the reconciler logs an error every 10 s.
			"--endpoint-reconciler-type=none",
			// pods/log, exec and port-forward go to KWOK's server.
			"--kubelet-client-certificate="+kubeletClient.CertFile, "--kubelet-client-key="+kubeletClient.KeyFile,
			"--kubelet-preferred-address-types=InternalIP",
			"--allow-privileged=true",
			"--profiling=false",
		)
	}
	if err := c.apiserver.start(); err != nil {
		return err
	}
	rc := c.RESTConfig()
	rc.Timeout = 2 * time.Second
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return fmt.Errorf("kube-apiserver client: %w", err)
	}
	defer hc.CloseIdleConnections()
	return c.waitFor(ctx, 2*time.Minute, "kube-apiserver /readyz", []*proc{c.apiserver, c.etcd}, func(ctx context.Context) error {
		return httpOK(ctx, hc, c.Server()+"/readyz", "ok")
	})
}

// componentFlags are the flags kube-controller-manager and kube-scheduler
// share: their kubeconfig for everything, a serving certificate of the
// cluster CA on their own port (so /healthz can be checked), no leader
// election.
func (c *Cluster) componentFlags(comp component, port int) ([]string, error) {
	serving, err := c.pki.serving(comp.file+"-serving", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return nil, err
	}
	kc := c.path(comp.file + ".kubeconfig")
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + serving.CertFile, "--tls-private-key-file=" + serving.KeyFile,
		"--leader-elect=false",
	}, nil
}

func (c *Cluster) startControllerManager(ctx context.Context, port int) error {
	args, err := c.componentFlags(compControllerManager, port)
	if err != nil {
		return err
	}
	args = append(args,
		"--service-account-private-key-file="+c.path("pki/sa.key"),
		"--root-ca-file="+c.pki.caFile(),
		"--cluster-signing-cert-file="+c.pki.caFile(), "--cluster-signing-key-file="+c.pki.caKeyFile(),
		"--service-cluster-ip-range="+serviceCIDR,
		// The default 20/30 makes a 100-pod scale-up take seconds.
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
	)
	c.controllerManager = c.newProc("kube-controller-manager", args...)
	return c.startComponent(ctx, c.controllerManager, port)
}

func (c *Cluster) startScheduler(ctx context.Context, port int) error {
	args, err := c.componentFlags(compScheduler, port)
	if err != nil {
		return err
	}
	c.scheduler = c.newProc("kube-scheduler", args...)
	return c.startComponent(ctx, c.scheduler, port)
}

// startComponent starts p and waits until its /healthz answers ok.
func (c *Cluster) startComponent(ctx context.Context, p *proc, port int) error {
	if err := p.start(); err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(&rest.Config{Timeout: time.Second, TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM}})
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/healthz"
	return c.waitFor(ctx, 60*time.Second, p.name+" /healthz", []*proc{p}, func(ctx context.Context) error {
		return httpOK(ctx, hc, url, "ok")
	})
}

func (c *Cluster) startKWOK(ctx context.Context) error {
	serving, err := c.pki.serving("kwok-serving", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	args := []string{
		"--config=" + c.path("kwok.yaml"),
		"--kubeconfig=" + c.path(compKWOK.file+".kubeconfig"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + NodeAnnotation + "=fake",
		"--cidr=" + podCIDR,
		"--node-ip=127.0.0.1",
		"--node-port=" + strconv.Itoa(c.kubeletPort),
		"--server-address=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.kwokPort)),
		"--tls-cert-file=" + serving.CertFile, "--tls-private-key-file=" + serving.KeyFile,
	}
	c.kwok = c.newProc("kwok", args...)
	if err := c.kwok.start(); err != nil {
		return err
	}
	// KWOK v0.8.0 can panic while it compiles its stages' CEL
	// environments (seen once in CI at start-up); it keeps no state of
	// its own, so it is restarted as a kubelet's service manager would.
	c.kwok.supervise(func(n int, tail string) {
		c.log.Warn("kwok exited; restarting it", "cluster", c.opts.Name, "crashes", n, "log", tail)
	})
	return nil
}

// startKubeletFront serves every node's kubelet endpoint on ln: exec with
// Options.Exec, the rest through to KWOK (kubelet.go).
func (c *Cluster) startKubeletFront(ln net.Listener) error {
	kp, err := c.pki.serving("kubelet-front", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	c.kubeletFront = serveKubeletFront(ln, cert, c.pki.caPEM, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.kwokPort)), c.opts.Exec)
	return nil
}

// waitFor polls f until it succeeds, the timeout passes or one of watch
// exits (then the error carries the end of its log).
func (c *Cluster) waitFor(ctx context.Context, timeout time.Duration, what string, watch []*proc, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(actx)
		acancel()
		if err == nil {
			return nil
		}
		for _, p := range watch {
			if p.down(p == c.kwok) {
				return fmt.Errorf("waiting for %s: %s exited:\n%s", what, p.name, p.logTail(15))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// httpOK GETs url and wants a 200 whose body contains want.
func httpOK(ctx context.Context, hc *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, firstLine(string(body)))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
