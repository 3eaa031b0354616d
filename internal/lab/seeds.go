package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
)

// The seeds' workloads (Options.Seeds), as the shipped runbooks name them.
var (
	// MimirApps are the Mimir deployments of namespace mimir.
	MimirApps = []string{"mimir-api", "mimir-worker", "mimir-analytics", "mimir-web"}
	// MAIPApps are the deployments of namespace maip-services.
	MAIPApps = []string{"maip-api", "maip-ingest"}
)

// Sizes of the seeds' workloads before any failover: the primary region
// serves (Mimir's apps at 2, MAIP's at 4); the DR region is at 0.
const (
	primaryMimirReplicas = 2
	primaryMAIPReplicas  = 4
)

// upSeeds readies both clusters for the seed runbooks (Options.Seeds):
// Mimir in namespace mimir — its four deployments, the PostgreSQL and
// Redis pods, mimir-config, a secret, the services (the load balancers get
// their hostnames from the lab's cloud controller), a bound claim, the
// backup CronJob — cluster-autoscaler in kube-system, MAIP's deployments
// and service in maip-services, a metrics API, and the edge. It returns
// once every pod is Ready.
func (l *Lab) upSeeds(ctx context.Context) error {
	if !l.opts.Seeds {
		return nil
	}
	if l.kube == nil || l.aws == nil {
		return errors.New("lab: seeds need Kubernetes and AWS (Options.Kubernetes, Options.AWS)")
	}
	if err := l.upEdge(); err != nil {
		return err
	}
	if err := l.upSeedsPostgres(); err != nil {
		return err
	}
	if err := l.writePodFiles(); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.kube.stopSeeds = stop
	errs := make(chan error, 2)
	for _, region := range []string{"primary", "dr"} {
		go func() { errs <- l.seedCluster(ctx, sctx, region) }()
	}
	if err := errors.Join(<-errs, <-errs); err != nil {
		return fmt.Errorf("lab: seeds: %w", err)
	}
	return nil
}

func (l *Lab) seedCluster(ctx, background context.Context, region string) error {
	c := l.kube.primary
	if region == "dr" {
		c = l.kube.dr
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	l.cloudController(background, cs, region)
	l.kubeletSync(background, cs)
	if err := l.metricsAPI(background, c, cs); err != nil {
		return fmt.Errorf("%s: metrics API: %w", region, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s := &seeder{ctx: ctx, cs: cs, c: c}
	mimir, maip := int32(0), int32(0)
	if region == "primary" {
		mimir, maip = primaryMimirReplicas, primaryMAIPReplicas
	}
	s.namespace("mimir")
	for _, app := range MimirApps {
		s.deployment("mimir", app, mimir, map[string]string{"app.kubernetes.io/part-of": "mimir", "app.kubernetes.io/name": app})
	}
	s.deployment("kube-system", "cluster-autoscaler", 0, map[string]string{"app": "cluster-autoscaler"})
	s.create(cs.CoreV1().ConfigMaps("mimir").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mimir-config"},
		Data: map[string]string{"REGION": "us-east-1", "ENVIRONMENT": "production", "LOG_LEVEL": "info"}}, metav1.CreateOptions{}))
	s.create(cs.CoreV1().Secrets("mimir").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mimir-db"},
		StringData: map[string]string{"password": "lab-only"}}, metav1.CreateOptions{}))
	s.service("mimir", "mimir-api-service", corev1.ServiceTypeLoadBalancer, map[string]string{"app.kubernetes.io/name": "mimir-api"})
	s.service("mimir", "mimir-web-service", corev1.ServiceTypeLoadBalancer, map[string]string{"app.kubernetes.io/name": "mimir-web"})
	s.service("mimir", "postgres-primary-service", corev1.ServiceTypeClusterIP, map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "primary"})
	s.service("mimir", "redis-service", corev1.ServiceTypeClusterIP, map[string]string{"app": "redis"})
	s.create(cs.BatchV1().CronJobs("mimir").Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "postgres-backup"},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "registry.invalid/backup:1"}}}}}}}},
		metav1.CreateOptions{}))
	s.claim(region)
	if region == "dr" {
		s.pod("mimir", "postgres-standby-0", map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "standby"})
	} else {
		s.pod("mimir", "postgres-0", map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "primary"})
	}
	s.pod("mimir", "redis-0", map[string]string{"app": "redis"})
	s.namespace("maip-services")
	for _, app := range MAIPApps {
		s.deployment("maip-services", app, maip, map[string]string{"app": app})
	}
	s.service("maip-services", "maip-api", corev1.ServiceTypeClusterIP, map[string]string{"app": "maip-api"})
	if s.err != nil {
		return fmt.Errorf("%s: %w", region, s.err)
	}
	for _, ns := range []string{"mimir", "maip-services"} {
		if err := waitPodsReady(ctx, cs, ns); err != nil {
			return fmt.Errorf("%s: %w", region, err)
		}
	}
	return nil
}

// seeder creates objects and keeps the first error.
type seeder struct {
	ctx context.Context
	cs  *kubernetes.Clientset
	c   *kube.Cluster
	err error
}

func (s *seeder) create(_ any, err error) {
	if s.err == nil && err != nil {
		s.err = err
	}
}

func (s *seeder) namespace(name string) {
	s.create(s.cs.CoreV1().Namespaces().Create(s.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))
	if s.err == nil {
		s.err = s.c.WaitDefaultServiceAccount(s.ctx, name)
	}
}

func (s *seeder) deployment(ns, name string, n int32, labels map[string]string) {
	zero := int64(0)
	s.create(s.cs.AppsV1().Deployments(ns).Create(s.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero,
					Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/" + name + ":1"}}}}},
	}, metav1.CreateOptions{}))
}

func (s *seeder) service(ns, name string, typ corev1.ServiceType, sel map[string]string) {
	s.create(s.cs.CoreV1().Services(ns).Create(s.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Selector: sel, Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{}))
}

func (s *seeder) pod(ns, name string, labels map[string]string) {
	s.create(s.cs.CoreV1().Pods(ns).Create(s.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.invalid/" + name + ":1"}}}}, metav1.CreateOptions{}))
}

// claim creates a volume and a claim of its class, which the volume
// binder binds at once.
func (s *seeder) claim(region string) {
	class := "mimir-" + region
	size := corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("10Gi")}
	rwo := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	s.create(s.cs.CoreV1().PersistentVolumes().Create(s.ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "mimir-postgres-" + region},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: class, AccessModes: rwo, Capacity: size,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/postgres"}}},
	}, metav1.CreateOptions{}))
	s.create(s.cs.CoreV1().PersistentVolumeClaims("mimir").Create(s.ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-postgres-0"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: rwo,
			Resources: corev1.VolumeResourceRequirements{Requests: size}},
	}, metav1.CreateOptions{}))
}

// waitPodsReady waits until every pod of ns is Ready and every claim Bound.
func waitPodsReady(ctx context.Context, cs *kubernetes.Clientset, ns string) error {
	var last string
	for {
		last = ""
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
		} else {
			for _, p := range pods.Items {
				if !podReady(&p) {
					last = "pod " + p.Name + " not Ready"
				}
			}
		}
		if claims, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, c := range claims.Items {
				if c.Status.Phase != corev1.ClaimBound {
					last = "claim " + c.Name + " not Bound"
				}
			}
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s: %s", ns, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// seedsEnv adds what the seed runbooks read to env: the ${secret:…} of
// Mimir's data stores (MIMIR_DR_PG_DSN: the DR standby; MIMIR_PRIMARY_PG_DSN:
// the primary through its region's proxy; MIMIR_REDIS_PASSWORD), the
// addresses mimir-failback reads, and the edge (LAB_HTTPS_PROXY,
// LAB_EDGE_CA_FILE: what HTTPS_PROXY and SSL_CERT_FILE of a bot run
// against the lab are).
func (l *Lab) seedsEnv(env map[string]string) {
	if l.edge == nil {
		return
	}
	l.edge.env(env)
	env["MIMIR_DR_PG_DSN"] = l.pgDSN(l.pgStandbyPort)
	env["MIMIR_PRIMARY_PG_DSN"] = l.pgDSN(l.pgProxy.port)
	env["MIMIR_REDIS_PASSWORD"] = l.opts.RedisPassword
	env["MIMIR_PRIMARY_REDIS_ADDR"] = l.redisProxy.Addr()
	l.seedsRedis.env(env)
}
