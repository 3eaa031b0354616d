package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// The pods of the seeds run no containers (KWOK's nodes are fake); a
// command exec'd in one (kubernetes.exec, execCheck) runs on this machine
// (podExec, the nodes' kubelet through kube.Options.Exec, which reports
// exit codes as a kubelet does), in the region's pod root
// (pods-<region>/) with the lab's pod programs (pod-bin/) first in PATH:
// psql talks to the region's real PostgreSQL (pod.env) and reads absolute
// paths inside the pod root (-f /scripts/data-validation.sql);
// pg_basebackup is the real one, port 5432 as in the cluster, writing
// inside the pod root (-D /tmp/restore); redis-cli talks to the region's
// redis-0 (<region address>:6379, seeds_redis.go) unless told otherwise;
// test looks inside the pod root; python answers the seeds'
// db_adapter.test_connection() with a real query. $REDIS_PASSWORD is in
// every pod's environment. Other commands (touch, sh) are this machine's.
// An absolute path argument is the pod root's when the pod root has it or
// its directory.
var podPrograms = map[string]string{
	"psql": podPaths + `exec "$LAB_PG_BIN/psql" "$@"
`,
	"pg_basebackup": podPaths + `export PGPORT=5432
exec "$LAB_PG_BIN/pg_basebackup" "$@"
`,
	"redis-cli": `#!/bin/sh
# redis-cli in a lab pod: the region's redis-0 by default.
. ./pod.env
exec "$LAB_REDIS_CLI" -h "$LAB_REDIS_HOST" -p 6379 "$@"
`,
	"test": podPaths + `exec /usr/bin/test "$@"
`,
	"python": `#!/bin/sh
# python in a lab pod: only the seeds' db_adapter.test_connection().
. ./pod.env
case "$*" in
*test_connection*)
  if "$LAB_PG_BIN/psql" -U postgres -tAc 'SELECT 1' >/dev/null 2>&1; then echo True; else echo False; fi ;;
*) echo "python in the lab pods runs only db_adapter.test_connection(): $*" >&2; exit 2 ;;
esac
`,
}

// podPaths starts a pod program: pod.env, and the absolute paths of its
// arguments moved into the pod root.
const podPaths = `#!/bin/sh
. ./pod.env
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n-1))
  case "$a" in /*) if [ -e ".$a" ] || [ -d ".${a%/*}" ]; then a="$PWD$a"; fi ;; esac
  set -- "$@" "$a"
done
`

// dataValidation is the Mimir team's /scripts/data-validation.sql in the lab.
const dataValidation = `-- data validation (lab): the server takes writes
\set ON_ERROR_STOP 1
DO $$ BEGIN IF pg_is_in_recovery() THEN RAISE EXCEPTION 'data validation: the server is still a standby'; END IF; END $$;
CREATE TABLE IF NOT EXISTS lab_data_validation (at timestamptz NOT NULL);
INSERT INTO lab_data_validation VALUES (now());
SELECT 'data validation ok' AS result;
`

func (l *Lab) podBin() string               { return l.path("pod-bin") }
func (l *Lab) podRoot(region string) string { return l.path("pods-" + region) }

// podExec runs the commands exec'd into a region's pods with seeds (nil
// without): in the region's pod root, with the pod programs first in PATH
// and $REDIS_PASSWORD set. The command's process group is killed when
// the exec's client goes away.
func (l *Lab) podExec(region string) kube.Exec {
	if !l.opts.Seeds {
		return nil
	}
	env := append(os.Environ(), "PATH="+l.podBin()+string(os.PathListSeparator)+os.Getenv("PATH"), "REDIS_PASSWORD="+l.opts.RedisPassword)
	return func(ctx context.Context, c kube.ExecCommand) error {
		bin := c.Command[0]
		if !strings.Contains(bin, "/") {
			if _, err := os.Stat(filepath.Join(l.podBin(), bin)); err == nil {
				bin = filepath.Join(l.podBin(), bin)
			}
		}
		cmd := exec.CommandContext(ctx, bin, c.Command[1:]...)
		cmd.Dir, cmd.Env = l.podRoot(region), env
		cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return err
			}
			return fmt.Errorf("%s in %s/%s: %w", c.Command[0], c.Namespace, c.Pod, err)
		}
		return nil
	}
}

// writePodFiles writes the pod programs and each region's pod root.
func (l *Lab) writePodFiles() error {
	if err := os.MkdirAll(l.podBin(), 0o755); err != nil {
		return err
	}
	for name, body := range podPrograms {
		if err := os.WriteFile(filepath.Join(l.podBin(), name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	cli, err := findRedisBinary("redis-cli")
	if err != nil {
		return err
	}
	redisHost := map[string]string{"primary": l.seedsRedis.primary.host, "dr": l.seedsRedis.dr.host}
	for region, port := range map[string]int{"primary": l.pgProxy.port, "dr": l.pgStandbyPort} {
		root := l.podRoot(region)
		for _, d := range []string{"scripts", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
		}
		env := fmt.Sprintf("export PGHOST=127.0.0.1 PGPORT=%d PGDATABASE=postgres PGCONNECT_TIMEOUT=5 PGPASSWORD='%s' LAB_PG_BIN='%s' LAB_REDIS_CLI='%s' LAB_REDIS_HOST=%s\n",
			port, l.opts.PGPassword, l.pgBin, cli, redisHost[region])
		if err := os.WriteFile(filepath.Join(root, "pod.env"), []byte(env), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, "scripts", "data-validation.sql"), []byte(dataValidation), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// lbHostnames are the load balancers the cloud controller gives the seeds'
// services: the primary's are those the local AWS's records and health
// checks start with.
var lbHostnames = map[string]string{
	"primary/mimir/mimir-api-service": awstest.MimirPrimaryAPILB,
	"primary/mimir/mimir-web-service": awstest.MimirPrimaryWebLB,
	"dr/mimir/mimir-api-service":      "b9d1e3f5-mimir-api." + awstest.DRRegion + ".elb.amazonaws.com",
	"dr/mimir/mimir-web-service":      "c0e2f4a6-mimir-web." + awstest.DRRegion + ".elb.amazonaws.com",
}

// LoadBalancer is the hostname the lab's cloud controller gives a
// LoadBalancer service of a region ("primary" or "dr").
func LoadBalancer(region, namespace, name string) string {
	if h, ok := lbHostnames[region+"/"+namespace+"/"+name]; ok {
		return h
	}
	cloud := awstest.PrimaryRegion
	if region == "dr" {
		cloud = awstest.DRRegion
	}
	return fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", name, namespace, cloud)
}

// cloudController gives every LoadBalancer service of the region its
// hostname, as a cloud's service controller would, until ctx ends.
func (l *Lab) cloudController(ctx context.Context, c *kubernetes.Clientset, region string) {
	go func() {
		for ctx.Err() == nil {
			w, err := c.CoreV1().Services("").Watch(ctx, metav1.ListOptions{})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
			for ev := range w.ResultChan() {
				svc, ok := ev.Object.(*corev1.Service)
				if !ok || ev.Type == watch.Deleted || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
					continue
				}
				patch := fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"hostname":%q}]}}}`, LoadBalancer(region, svc.Namespace, svc.Name))
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, _ = c.CoreV1().Services(svc.Namespace).Patch(pctx, svc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
				cancel()
			}
			w.Stop()
		}
	}()
}

// kubeletSync stands for the kubelets reporting again after their region
// comes back: when the primary's API server was down longer than the node
// grace period, the node lifecycle controller marks the nodes' pods not
// Ready, and KWOK (which readies a pod once, when it starts) never reports
// them again as a kubelet would. Every second, a Running pod that is not
// Ready on a Ready node is made Ready, until ctx ends.
func (l *Lab) kubeletSync(ctx context.Context, c *kubernetes.Clientset) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			readyNodes := map[string]bool{}
			if nodes, err := c.CoreV1().Nodes().List(rctx, metav1.ListOptions{}); err == nil {
				for i := range nodes.Items {
					n := &nodes.Items[i]
					readyNodes[n.Name] = kube.NodeReady(n)
					reportAddresses(rctx, c, n)
				}
			}
			pods, err := c.CoreV1().Pods("").List(rctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
			if err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if podReady(p) || p.DeletionTimestamp != nil || !readyNodes[p.Spec.NodeName] {
						continue
					}
					now := metav1.Now().UTC().Format(time.RFC3339)
					patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q},{"type":"ContainersReady","status":"True","lastTransitionTime":%q}]}}`, now, now)
					_, _ = c.CoreV1().Pods(p.Namespace).Patch(rctx, p.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
				}
			}
			cancel()
		}
	}()
}

// reportAddresses gives a node back the addresses its kubelet reports in
// every status update (InternalIP 127.0.0.1, Hostname its name) when they
// are gone: after a long primary outage a node was seen with none, and
// pods/exec then fails with "no preferred addresses found". KWOK writes
// them only when it first readies a node.
func reportAddresses(ctx context.Context, c *kubernetes.Clientset, n *corev1.Node) {
	var ip, host bool
	for _, a := range n.Status.Addresses {
		ip = ip || a.Type == corev1.NodeInternalIP
		host = host || a.Type == corev1.NodeHostName
	}
	if ip && host {
		return
	}
	patch := fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":%q}]}}`, n.Name)
	_, _ = c.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
}

var gvrAPIServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// metricsAPI serves metrics.k8s.io for the cluster's pods (`kubectl top`:
// 150m of CPU and 256Mi each), registered with the API server's
// aggregator as metrics-server is. It stops with ctx.
func (l *Lab) metricsAPI(ctx context.Context, c *kube.Cluster, cs *kubernetes.Clientset) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/metrics.k8s.io/v1beta1", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "metrics.k8s.io/v1beta1",
			APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}}}})
	})
	mux.HandleFunc("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", func(w http.ResponseWriter, r *http.Request) {
		pods, err := cs.CoreV1().Pods(r.PathValue("ns")).List(r.Context(), metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items := []map[string]any{}
		for _, p := range pods.Items {
			items = append(items, map[string]any{"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
				"metadata":  map[string]any{"name": p.Name, "namespace": p.Namespace, "labels": p.Labels},
				"timestamp": time.Now().UTC().Format(time.RFC3339), "window": "30s",
				"containers": []any{map[string]any{"name": p.Spec.Containers[0].Name, "usage": map[string]string{"cpu": "150m", "memory": "256Mi"}}}})
		}
		writeJSON(w, http.StatusOK, map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": items})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(l.edge.leafPEM())
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Services("kube-system").Create(rctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost", Ports: []corev1.ServicePort{{Port: int32(p)}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service": map[string]any{"namespace": "kube-system", "name": "metrics-server", "port": int64(p)}},
	}}
	_, err = dyn.Resource(gvrAPIServices).Create(rctx, api, metav1.CreateOptions{})
	return err
}
