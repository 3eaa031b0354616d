package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The kubeconfig contexts of the lab's two clusters (Options.Kubernetes).
const (
	KubePrimaryContext = "lab-primary"
	KubeDRContext      = "lab-dr"
)

// kubeLab is the lab's two Kubernetes clusters: the primary's API server
// is reached through a proxy (the kubeconfig's lab-primary context points
// at it), so failing the primary region refuses or blackholes it like the
// data stores; the DR cluster is reached directly.
type kubeLab struct {
	primary, dr *kube.Cluster
	proxy       *proxy
	kubeconfig  string
	stopSeeds   func() // ends the seeds' controllers (seeds.go), nil without
}

func (l *Lab) upKubernetes(ctx context.Context) error {
	bin := l.opts.KubeBinDir
	if bin == "" {
		var err error
		if bin, err = kube.FindBinDir(ctx); err != nil {
			return fmt.Errorf("kubernetes: %w", err)
		}
	}
	k := &kubeLab{kubeconfig: l.path("kubeconfig")}
	l.kube = k
	start := func(name, region string, out **kube.Cluster) error {
		c, err := kube.Start(ctx, kube.Options{
			Exec: l.podExec(region),
			Name: name, BinDir: bin, Dir: l.path("kube-" + region), Nodes: l.opts.KubeNodes,
			NodeLabels:        map[string]string{"topology.kubernetes.io/region": region},
			KeepOnParentDeath: l.opts.KeepOnParentDeath, Logger: l.log,
		})
		*out = c
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- start(KubePrimaryContext, "primary", &k.primary) }()
	go func() { errs <- start(KubeDRContext, "dr", &k.dr) }()
	if err := errors.Join(<-errs, <-errs); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	var err error
	if k.proxy, err = newProxy("kube-apiserver-primary", k.primary.APIServerAddr()); err != nil {
		return err
	}
	cfg := k.primary.Kubeconfig(KubePrimaryContext, "https://"+k.proxy.Addr())
	dr := k.dr.Kubeconfig(KubeDRContext, "")
	cfg.Clusters[KubeDRContext] = dr.Clusters[KubeDRContext]
	cfg.AuthInfos[KubeDRContext] = dr.AuthInfos[KubeDRContext]
	cfg.Contexts[KubeDRContext] = dr.Contexts[KubeDRContext]
	if err := clientcmd.WriteToFile(*cfg, k.kubeconfig); err != nil {
		return fmt.Errorf("kubernetes: write %s: %w", k.kubeconfig, err)
	}
	return nil
}

// Kubeconfig is the path of the lab's kubeconfig (contexts lab-primary,
// the current one, and lab-dr), "" without Options.Kubernetes.
func (l *Lab) Kubeconfig() string {
	if l.kube == nil {
		return ""
	}
	return l.kube.kubeconfig
}

// KubeRESTConfig is an admin client configuration for the context
// (KubePrimaryContext: through the primary region's proxy; KubeDRContext),
// read from the lab's kubeconfig as kubectl would.
func (l *Lab) KubeRESTConfig(kubeContext string) (*rest.Config, error) {
	if l.kube == nil {
		return nil, errors.New("lab: started without Kubernetes (Options.Kubernetes)")
	}
	return KubeRESTConfig(l.kube.kubeconfig, kubeContext)
}

// KubeRESTConfig loads a context of a kubeconfig file.
func KubeRESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("lab: kubeconfig %s context %s: %w", kubeconfig, kubeContext, err)
	}
	return cfg, nil
}

// KubeClusters are the primary and DR clusters (nil without Kubernetes).
func (l *Lab) KubeClusters() (primary, dr *kube.Cluster) {
	if l.kube == nil {
		return nil, nil
	}
	return l.kube.primary, l.kube.dr
}

func (k *kubeLab) env(m map[string]string) {
	m["KUBECONFIG"] = k.kubeconfig
	m["LAB_KUBECONFIG"] = k.kubeconfig
	m["LAB_KUBE_PRIMARY_CONTEXT"] = KubePrimaryContext
	m["LAB_KUBE_DR_CONTEXT"] = KubeDRContext
	m["LAB_KUBE_PRIMARY_SERVER"] = "https://" + k.proxy.Addr()
	m["LAB_KUBE_DR_SERVER"] = k.dr.Server()
}

// fail fails the primary cluster's API server with the region: stop kills
// it (etcd, the controllers and KWOK keep running, as on machines the
// failure did not reach), refuse and blackhole switch its proxy.
func (k *kubeLab) fail(mode FailMode) error {
	switch mode {
	case FailStop:
		return k.primary.KillAPIServer()
	case FailRefuse:
		return k.proxy.SetMode(ModeRefuse)
	case FailBlackhole:
		return k.proxy.SetMode(ModeBlackhole)
	}
	return nil
}

// restore reopens the proxy and restarts a killed API server (its state is
// in etcd, so it comes back as it was).
func (k *kubeLab) restore(ctx context.Context) error {
	return errors.Join(k.proxy.SetMode(ModeForward), k.primary.RestartAPIServer(ctx))
}

func (k *kubeLab) down() error {
	if k.stopSeeds != nil {
		k.stopSeeds()
	}
	var errs []error
	if k.proxy != nil {
		errs = append(errs, k.proxy.Close())
	}
	for _, c := range []*kube.Cluster{k.primary, k.dr} {
		if c != nil {
			errs = append(errs, c.Stop())
		}
	}
	return errors.Join(errs...)
}

// probes are the status probes of the two API servers, through the
// kubeconfig's contexts.
func (k *kubeLab) probes() []probe {
	return []probe{
		{Service{Name: "kube-apiserver", Region: "primary", Addr: k.proxy.Addr()}, kubeProbe(k.kubeconfig, KubePrimaryContext)},
		{Service{Name: "kube-apiserver", Region: "dr", Addr: k.dr.APIServerAddr()}, kubeProbe(k.kubeconfig, KubeDRContext)},
	}
}

// kubeProbe asks the API server for its version and counts Ready nodes.
func kubeProbe(kubeconfig, kubeContext string) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		cfg, err := KubeRESTConfig(kubeconfig, kubeContext)
		if err != nil {
			return "", "", err
		}
		if dl, ok := ctx.Deadline(); ok {
			cfg.Timeout = time.Until(dl)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return "", "", err
		}
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			return "kubernetes", "", err
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return "kubernetes", "", err
		}
		ready := 0
		for i := range nodes.Items {
			if kube.NodeReady(&nodes.Items[i]) {
				ready++
			}
		}
		return "kubernetes", fmt.Sprintf("%s, %d/%d nodes Ready", v.GitVersion, ready, len(nodes.Items)), nil
	}
}
