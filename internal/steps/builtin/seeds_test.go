package builtin_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// cover says how one seed command is covered by the YAML runbooks: by a
// step (file, step id, kind, and the with fields that carry the command's
// arguments), by a connection (the seed's context-switching aliases), or
// not at all, with the reason.
type cover struct {
	cmd  string            // the seed command, or its beginning (whitespace collapsed)
	file string            // runbook file under runbooks/
	step string            // step id (assess check or phase step)
	kind string            // its kind
	with map[string]string // with fields (dotted paths, lists as [i]) and their values
	conn string            // or: the connection that stands for the command
	ctx  string            // with this kube context
	not  string            // or: why the command is not a step
}

const (
	mimirFailover = "mimir-region-failover.yaml"
	mimirFailback = "mimir-failback.yaml"
	maipFailover  = "maip-region-failover.yaml"
	maipFailback  = "maip-failback.yaml"
)

// mimirSeed covers seeds/mimir-region-failover.md, command by command, in order.
var mimirSeed = []cover{
	// Pre-Failover Assessment, Step 1: confirm region failure.
	{cmd: "aws ec2 describe-regions --region-names us-east-1", file: mimirFailover, step: "primary_region_status", kind: "aws.ec2.regionStatus",
		with: map[string]string{"regionName": "us-east-1", "expect": "down"}},
	{cmd: "kubectl --context primary-cluster get nodes", file: mimirFailover, step: "primary_cluster_down", kind: "kubernetes.nodesReady",
		with: map[string]string{"expect": "down"}},
	{cmd: `curl -f https://api.mimir.example.com/health || echo "Primary API unreachable"`, file: mimirFailover, step: "primary_api_down", kind: "http.check",
		with: map[string]string{"url": "https://api.mimir.example.com/health", "expect": "down"}},
	{cmd: "aws route53 get-health-check-status --health-check-id <health-check-id>", file: mimirFailover, step: "primary_health_check", kind: "aws.route53.healthCheck",
		with: map[string]string{"healthCheckId": "${env:FAILOVER_RB_MIMIR_API_HEALTH_CHECK_ID}", "expect": "unhealthy"}},
	// Step 2: assess DR readiness.
	{cmd: "kubectl config use-context dr-cluster", file: mimirFailover, conn: "dr_cluster", ctx: "dr-cluster"},
	{cmd: "kubectl get nodes", file: mimirFailover, step: "dr_nodes_ready", kind: "kubernetes.nodesReady"},
	{cmd: "kubectl get pods -n mimir", file: mimirFailover, step: "dr_pods_ready", kind: "kubernetes.podsReady",
		with: map[string]string{"namespace": "mimir"}},
	{cmd: `kubectl exec -n mimir postgres-standby-0 -- psql -U postgres -c "SELECT now() - pg_last_xact_replay_timestamp()`, file: mimirFailover, step: "dr_replication_lag", kind: "postgres.replicationLag"},
	{cmd: "aws s3 ls s3://mimir-backups-dr/postgres/ --recursive | tail -10", file: mimirFailover, step: "dr_backups_recent", kind: "aws.s3.newestObjectAge",
		with: map[string]string{"bucket": "mimir-backups-dr", "prefix": "postgres/"}},
	// Phase 1: prepare the DR environment.
	{cmd: "kubectl --context dr-cluster scale deployment cluster-autoscaler --replicas=1", file: mimirFailover, step: "scale_autoscaler", kind: "kubernetes.scale",
		with: map[string]string{"name": "cluster-autoscaler", "replicas": "1"}},
	{cmd: "kubectl --context dr-cluster get secrets -n mimir", file: mimirFailover, step: "dr_secrets_present", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"namespace": "mimir", "resource": "secrets"}},
	{cmd: "kubectl --context dr-cluster get pv", file: mimirFailover, step: "dr_pv_present", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"resource": "persistentvolumes"}},
	{cmd: "kubectl --context dr-cluster get pvc -n mimir", file: mimirFailover, step: "dr_pvc_bound", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"namespace": "mimir", "resource": "persistentvolumeclaims", "phase": "Bound"}},
	// Phase 2: database failover.
	{cmd: "kubectl --context dr-cluster exec -n mimir postgres-standby-0 -- pg_ctl promote", file: mimirFailover, step: "promote_db", kind: "postgres.promote"},
	{cmd: `kubectl --context dr-cluster exec -n mimir postgres-standby-0 -- psql -U postgres -c "SELECT pg_is_in_recovery();"`, file: mimirFailover, step: "verify_promotion", kind: "postgres.query",
		with: map[string]string{"expect[0].equals": "primary"}},
	{cmd: "kubectl --context dr-cluster patch service postgres-primary-service -n mimir -p", file: mimirFailover, step: "patch_db_service", kind: "kubernetes.patch",
		with: map[string]string{"resource": "service", "name": "postgres-primary-service", "patch.spec.selector.app.kubernetes.io/role": "standby"}},
	// Phase 3: Redis failover.
	{cmd: "kubectl --context dr-cluster exec -n mimir redis-0 -- redis-cli -a $REDIS_PASSWORD SLAVEOF NO ONE", file: mimirFailover, step: "promote_redis", kind: "redis.promote"},
	{cmd: "for i in 0 1 2; do", file: mimirFailover, step: "sentinels_monitor", kind: "redis.sentinelMonitor"},
	{cmd: "kubectl --context dr-cluster exec -n mimir redis-sentinel-$i -- redis-cli -p 26379 -a $REDIS_PASSWORD SENTINEL REMOVE mymaster", file: mimirFailover, step: "sentinels_monitor", kind: "redis.sentinelMonitor",
		with: map[string]string{"masterName": "mymaster"}},
	{cmd: "kubectl --context dr-cluster exec -n mimir redis-sentinel-$i -- redis-cli -p 26379 -a $REDIS_PASSWORD SENTINEL MONITOR mymaster redis-0.redis-service 6379 2", file: mimirFailover, step: "sentinels_monitor", kind: "redis.sentinelMonitor",
		with: map[string]string{"host": "redis-0.redis-service", "port": "6379", "quorum": "2"}},
	{cmd: "done", not: "end of the shell loop over the sentinels (sentinels_monitor handles every sentinel)"},
	// Phase 4: application deployment.
	{cmd: "kubectl --context dr-cluster patch configmap mimir-config -n mimir --type merge", file: mimirFailover, step: "patch_config", kind: "kubernetes.patch",
		with: map[string]string{"name": "mimir-config", "type": "merge", "patch.data.REGION": "us-west-2", "patch.data.ENVIRONMENT": "dr-production"}},
	{cmd: "kubectl --context dr-cluster scale deployment mimir-api -n mimir --replicas=3", file: mimirFailover, step: "scale_api", kind: "kubernetes.scale",
		with: map[string]string{"name": "mimir-api", "replicas": "3"}},
	{cmd: "kubectl --context dr-cluster scale deployment mimir-worker -n mimir --replicas=3", file: mimirFailover, step: "scale_worker", kind: "kubernetes.scale",
		with: map[string]string{"name": "mimir-worker", "replicas": "3"}},
	{cmd: "kubectl --context dr-cluster scale deployment mimir-analytics -n mimir --replicas=2", file: mimirFailover, step: "scale_analytics", kind: "kubernetes.scale",
		with: map[string]string{"name": "mimir-analytics", "replicas": "2"}},
	{cmd: "kubectl --context dr-cluster scale deployment mimir-web -n mimir --replicas=2", file: mimirFailover, step: "scale_web", kind: "kubernetes.scale",
		with: map[string]string{"name": "mimir-web", "replicas": "2"}},
	{cmd: "kubectl --context dr-cluster wait --for=condition=ready pods -n mimir -l app.kubernetes.io/part-of=mimir --timeout=300s", file: mimirFailover, step: "wait_pods_ready", kind: "kubernetes.podsReady",
		with: map[string]string{"selector": "app.kubernetes.io/part-of=mimir"}},
	// Phase 5: network cutover.
	{cmd: "DR_API_LB=$(kubectl --context dr-cluster get service mimir-api-service -n mimir -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')", file: mimirFailover, step: "dr_api_lb", kind: "kubernetes.serviceAddress",
		with: map[string]string{"name": "mimir-api-service", "require": "hostname"}},
	{cmd: "DR_WEB_LB=$(kubectl --context dr-cluster get service mimir-web-service -n mimir", file: mimirFailover, step: "dr_web_lb", kind: "kubernetes.serviceAddress",
		with: map[string]string{"name": "mimir-web-service"}},
	{cmd: `aws route53 change-resource-record-sets --hosted-zone-id Z1234567890ABC --change-batch '{ "Changes": [{ "Action": "UPSERT", "ResourceRecordSet": { "Name": "api.mimir.example.com", "Type": "CNAME", "TTL": 60`, file: mimirFailover, step: "dns_api", kind: "aws.route53.upsertRecord",
		with: map[string]string{"hostedZoneId": "Z1234567890ABC", "name": "api.mimir.example.com", "type": "CNAME", "ttl": "60", "values[0]": "{{ .steps.dr_api_lb.outputs.hostname }}"}},
	{cmd: "aws route53 update-health-check --health-check-id <health-check-id> --ip-address <dr-endpoint-ip>", file: mimirFailover, step: "health_check_to_dr", kind: "aws.route53.updateHealthCheck",
		with: map[string]string{"healthCheckId": "${env:FAILOVER_RB_MIMIR_API_HEALTH_CHECK_ID}", "fullyQualifiedDomainName": "{{ .steps.dr_api_lb.outputs.hostname }}"}},
	// Phase 6: validation.
	{cmd: "curl -f https://api.mimir.example.com/health", file: mimirFailover, step: "api_up", kind: "http.check",
		with: map[string]string{"url": "https://api.mimir.example.com/health", "expect": "up"}},
	{cmd: "curl -f https://app.mimir.example.com/", file: mimirFailover, step: "app_up", kind: "http.check",
		with: map[string]string{"url": "https://app.mimir.example.com/", "expect": "up"}},
	{cmd: `kubectl --context dr-cluster exec -n mimir mimir-api-0 -- python -c "import db_adapter; print(db_adapter.test_connection())"`, file: mimirFailover, step: "db_connectivity", kind: "kubernetes.execCheck",
		with: map[string]string{"command[2]": "import db_adapter; print(db_adapter.test_connection())", "output": "True"}},
	{cmd: "kubectl --context dr-cluster logs -n mimir -l app.kubernetes.io/name=mimir-api --tail=100", file: mimirFailover, step: "api_logs", kind: "kubernetes.logs",
		with: map[string]string{"selector": "app.kubernetes.io/name=mimir-api", "tail": "100"}},
	{cmd: "kubectl --context dr-cluster port-forward -n mimir svc/grafana 3000:3000", file: mimirFailover, step: "check_dashboards", kind: "gate"},
	// Post-failover tasks.
	{cmd: "curl -X POST https://status.mimir.example.com/api/v1/incidents", not: "status page update: a notifier, not a step"},
	{cmd: "watch -n 10 'kubectl --context dr-cluster top pods -n mimir'", file: mimirFailover, step: "pod_metrics", kind: "kubernetes.podMetrics",
		with: map[string]string{"namespace": "mimir"}},
	{cmd: "kubectl --context dr-cluster get events -n mimir --sort-by='.lastTimestamp' | tail -20", file: mimirFailover, step: "recent_events", kind: "kubernetes.events",
		with: map[string]string{"namespace": "mimir", "limit": "20"}},
	{cmd: "kubectl --context dr-cluster exec -n mimir postgres-primary-0 -- psql -U postgres -f /scripts/data-validation.sql", file: mimirFailover, step: "data_validation", kind: "kubernetes.execCheck",
		with: map[string]string{"command[0]": "psql", "command[6]": "/scripts/data-validation.sql"}},
	{cmd: "kubectl --context dr-cluster get cronjobs -n mimir", file: mimirFailover, step: "backup_cronjobs", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"resource": "cronjobs.batch", "namespace": "mimir"}},
	// Rollback to the primary region.
	{cmd: "kubectl --context primary-cluster get nodes", file: mimirFailback, step: "primary_nodes_ready", kind: "kubernetes.nodesReady"},
	{cmd: "./scripts/restore-to-primary.sh", file: mimirFailback, step: "restore_primary", kind: "gate"},
	{cmd: "kubectl --context primary-cluster exec -n mimir postgres-0 -- pg_basebackup -h $DR_POSTGRES_ENDPOINT -U replicator -D /tmp/restore -P", file: mimirFailback, step: "primary_basebackup", kind: "kubernetes.exec",
		with: map[string]string{"pod": "postgres-0", "command[0]": "pg_basebackup", "command[2]": "${env:FAILOVER_RB_MIMIR_DR_POSTGRES_ENDPOINT}", "command[4]": "replicator", "command[6]": "/tmp/restore"}},
	{cmd: `kubectl --context primary-cluster exec -n mimir postgres-0 -- psql -U postgres -c "SELECT pg_start_backup('failback');"`, file: mimirFailback, step: "primary_pg_caught_up", kind: "postgres.replicationLag"},
	// Appendix: DNS not updating.
	{cmd: "aws route53 get-change --id <change-id>", file: mimirFailover, step: "dns_api", kind: "aws.route53.upsertRecord"},
	{cmd: `echo "Temporary endpoints:"`, not: "prints the load balancer addresses, which dr_api_lb and dr_web_lb post as outputs"},
	{cmd: `echo "API: $DR_API_LB"`, not: "dr_api_lb's hostname output"},
	{cmd: `echo "Web: $DR_WEB_LB"`, not: "dr_web_lb's hostname output"},
	// Appendix: database won't promote.
	{cmd: "kubectl --context dr-cluster exec -n mimir postgres-standby-0 -- touch /tmp/postgresql.trigger.5432", file: mimirFailover, step: "force_promote", kind: "kubernetes.exec",
		with: map[string]string{"pod": "postgres-standby-0", "command[0]": "touch", "command[1]": "/tmp/postgresql.trigger.5432"}},
	{cmd: "kubectl --context dr-cluster apply -f backup-restore-job.yaml", file: mimirFailover, step: "restore_from_backup", kind: "kubernetes.apply",
		with: map[string]string{"file": "mimir/backup-restore-job.yaml"}},
	// Appendix: application won't start.
	{cmd: `kubectl --context dr-cluster describe pods -n mimir | grep -A 10 "Events:"`, file: mimirFailover, step: "pod_events", kind: "kubernetes.events",
		with: map[string]string{"fieldSelector": "involvedObject.kind=Pod"}},
	{cmd: "kubectl --context dr-cluster get svc -n mimir", file: mimirFailover, step: "services_present", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"resource": "services"}},
}

// maipSeed covers seeds/maip-multi-region-failover.md, command by command, in order.
var maipSeed = []cover{
	// Health check status.
	{cmd: "maip-prod", file: maipFailover, conn: "primary_eks", ctx: "maip-prod"},
	{cmd: "kubectl get nodes", file: maipFailover, step: "primary_nodes_down", kind: "kubernetes.nodesReady"},
	{cmd: "aws rds describe-db-instances --db-instance-identifier maip-prod-postgres --query", file: maipFailover, step: "primary_rds_down", kind: "aws.rds.instanceStatus",
		with: map[string]string{"dbInstanceIdentifier": "maip-prod-postgres"}},
	{cmd: "maip-prod-dr", file: maipFailover, conn: "dr_eks", ctx: "maip-prod-dr"},
	{cmd: "kubectl get nodes", file: maipFailover, step: "dr_nodes_ready", kind: "kubernetes.nodesReady"},
	{cmd: "aws rds describe-db-instances --db-instance-identifier maip-prod-postgres-replica --query", file: maipFailover, step: "dr_replica_available", kind: "aws.rds.instanceStatus",
		with: map[string]string{"dbInstanceIdentifier": "maip-prod-postgres-replica", "expect": "available"}},
	// Step 1: verify primary is down.
	{cmd: "maip-prod", file: maipFailover, conn: "primary_eks", ctx: "maip-prod"},
	{cmd: "kubectl get nodes", file: maipFailover, step: "primary_nodes_not_ready", kind: "kubernetes.nodesReady",
		with: map[string]string{"expect": "down"}},
	{cmd: "aws rds describe-db-instances --db-instance-identifier maip-prod-postgres", file: maipFailover, step: "primary_rds_not_available", kind: "aws.rds.instanceStatus",
		with: map[string]string{"dbInstanceIdentifier": "maip-prod-postgres", "expect": "unavailable"}},
	// Step 2: promote the RDS read replica.
	{cmd: "maip-prod-dr", file: maipFailover, conn: "dr_eks", ctx: "maip-prod-dr"},
	{cmd: "aws rds promote-read-replica --db-instance-identifier maip-prod-postgres-replica", file: maipFailover, step: "promote_replica", kind: "aws.rds.promoteReadReplica",
		with: map[string]string{"dbInstanceIdentifier": "maip-prod-postgres-replica"}},
	{cmd: "aws rds wait db-instance-available --db-instance-identifier maip-prod-postgres-replica", file: maipFailover, step: "promote_replica", kind: "aws.rds.promoteReadReplica"},
	// Step 3: Route 53.
	{cmd: `ZONE_ID=$(aws route53 list-hosted-zones --query "HostedZones[?Name=='maip.example.com.'].Id" --output text)`, file: maipFailover, step: "dns_api", kind: "aws.route53.upsertRecord",
		with: map[string]string{"zoneName": "maip.example.com"}},
	{cmd: `aws route53 change-resource-record-sets --hosted-zone-id $ZONE_ID --change-batch '{ "Changes": [{ "Action": "UPSERT", "ResourceRecordSet": { "Name": "api.maip.example.com", "Type": "A", "AliasTarget": {`, file: maipFailover, step: "dns_api", kind: "aws.route53.upsertRecord",
		with: map[string]string{"name": "api.maip.example.com", "type": "A", "aliasTarget.dnsName": "maip-prod-dr-alb.us-west-2.elb.amazonaws.com", "aliasTarget.evaluateTargetHealth": "true"}},
	// Step 4: scale the DR EKS cluster.
	{cmd: "maip-prod-dr", file: maipFailover, conn: "dr_eks", ctx: "maip-prod-dr"},
	{cmd: "aws eks update-nodegroup-config --cluster-name maip-prod-dr-eks-cluster --nodegroup-name maip-prod-dr-nodegroup --scaling-config minSize=4,maxSize=20,desiredSize=8", file: maipFailover, step: "scale_nodegroup", kind: "aws.eks.scaleNodegroup",
		with: map[string]string{"clusterName": "maip-prod-dr-eks-cluster", "nodegroupName": "maip-prod-dr-nodegroup", "minSize": "4", "maxSize": "20", "desiredSize": "8"}},
	{cmd: "kubectl scale deployment --all -n maip-services --replicas=4", file: maipFailover, step: "scale_deployments", kind: "kubernetes.scale",
		with: map[string]string{"namespace": "maip-services", "all": "true", "replicas": "4"}},
	// Step 5: verify DR is serving traffic.
	{cmd: "kubectl get pods -n maip-services", file: maipFailover, step: "dr_pods_ready", kind: "kubernetes.podsReady",
		with: map[string]string{"namespace": "maip-services"}},
	{cmd: "kubectl get svc -n maip-services", file: maipFailover, step: "dr_services", kind: "kubernetes.resourcesPresent",
		with: map[string]string{"namespace": "maip-services", "resource": "services"}},
	{cmd: "curl https://api.maip.example.com/actuator/health", file: maipFailover, step: "api_health", kind: "http.check",
		with: map[string]string{"url": "https://api.maip.example.com/actuator/health", "expect": "up"}},
	// Failback.
	{cmd: "maip-prod", file: maipFailback, conn: "primary_eks", ctx: "maip-prod"},
	{cmd: "maip-prod-dr", file: maipFailback, conn: "dr_eks", ctx: "maip-prod-dr"},
	{cmd: "aws rds create-db-instance-read-replica --db-instance-identifier maip-prod-postgres-new --source-db-instance-identifier maip-prod-postgres-replica --source-region us-west-2 --destination-region us-east-1", file: maipFailback, step: "create_replica", kind: "aws.rds.createReadReplica",
		with: map[string]string{"dbInstanceIdentifier": "maip-prod-postgres-new", "sourceDbInstanceIdentifier": "arn:aws:rds:us-west-2:${env:FAILOVER_RB_MAIP_AWS_ACCOUNT_ID}:db:maip-prod-postgres-replica", "sourceRegion": "us-west-2"}},
	// DynamoDB global table status, MSK replication.
	{cmd: "aws dynamodb describe-table --table-name maip-prod-merchant-analytics --query 'Table.Replicas'", file: maipFailover, step: "dynamodb_replicas", kind: "aws.dynamodb.replicasActive",
		with: map[string]string{"tableName": "maip-prod-merchant-analytics"}},
	{cmd: "aws cloudwatch get-metric-statistics --namespace AWS/DynamoDB --metric-name ReplicationLatency --dimensions Name=TableName,Value=maip-prod-merchant-analytics Name=ReceivingRegion,Value=us-west-2", file: maipFailover, step: "dynamodb_replication_latency", kind: "aws.cloudwatch.metricBelow",
		with: map[string]string{"namespace": "AWS/DynamoDB", "metricName": "ReplicationLatency", "dimensions.TableName": "maip-prod-merchant-analytics", "dimensions.ReceivingRegion": "us-west-2", "period": "5m", "window": "1h", "statistic": "Average"}},
	{cmd: `aws kafka list-replicators --query "Replicators[?contains(ReplicatorName, 'maip')]`, file: maipFailover, step: "msk_replicators", kind: "aws.msk.replicatorRunning",
		with: map[string]string{"nameContains": "maip"}},
}

// seedActions are steps of the seeds written as prose or shell comments
// rather than commands; text must occur in the seed.
var seedActions = []struct {
	seed string
	text string
	c    cover
}{
	{"mimir-region-failover.md", "Open http://localhost:3000 and check dashboards", cover{file: mimirFailover, step: "check_dashboards", kind: "gate"}},
	{"mimir-region-failover.md", "Adjust alert thresholds for DR capacity", cover{file: mimirFailover, step: "update_monitoring", kind: "gate"}},
	{"mimir-region-failover.md", "Set up reverse replication", cover{file: mimirFailback, step: "primary_basebackup", kind: "kubernetes.exec"}},
	{"mimir-region-failover.md", "Update DNS back to primary", cover{file: mimirFailback, step: "shift_api", kind: "aws.route53.shiftWeights",
		with: map[string]string{"name": "api.mimir.example.com", "stages[0].weights.primary": "10", "stages[3].weights.primary": "100", "stages[3].weights.dr": "0"}}},
	{"mimir-region-failover.md", "Scale down DR region", cover{file: mimirFailback, step: "scale_down_dr", kind: "kubernetes.scale",
		with: map[string]string{"replicas": "0"}}},
	{"maip-multi-region-failover.md", "Rebuild or restore from backup", cover{file: maipFailback, step: "rebuild_primary", kind: "gate"}},
	{"maip-multi-region-failover.md", "DynamoDB: Already synced via Global Tables", cover{file: maipFailback, step: "dynamodb_replicas", kind: "aws.dynamodb.replicasActive",
		with: map[string]string{"regions[0]": "us-east-1", "regions[1]": "us-west-2"}}},
	{"maip-multi-region-failover.md", "Start with 10% to primary, 90% to DR", cover{file: maipFailback, step: "shift_weights", kind: "aws.route53.shiftWeights",
		with: map[string]string{"stages[0].weights.primary": "10", "stages[0].weights.dr": "90"}}},
	{"maip-multi-region-failover.md", "then shift to 50/50, then 90/10, then 100/0", cover{file: maipFailback, step: "shift_weights", kind: "aws.route53.shiftWeights",
		with: map[string]string{"stages[1].weights.primary": "50", "stages[2].weights.primary": "90", "stages[3].weights.primary": "100", "stages[3].weights.dr": "0", "healthGate.healthCheckIds[0]": "${env:FAILOVER_RB_MAIP_PRIMARY_HEALTH_CHECK_ID}"}}},
}

func TestSeedCommandsAreSteps(t *testing.T) {
	books := map[string]*rawRunbook{}
	for _, f := range []string{mimirFailover, mimirFailback, maipFailover, maipFailback} {
		books[f] = readRaw(t, filepath.Join(runbooksDir, f))
	}
	for _, seed := range []struct {
		file  string
		table []cover
	}{
		{"mimir-region-failover.md", mimirSeed},
		{"maip-multi-region-failover.md", maipSeed},
	} {
		t.Run(seed.file, func(t *testing.T) {
			cmds := seedCommands(t, filepath.Join("testdata/seeds", seed.file))
			for i := range max(len(cmds), len(seed.table)) {
				switch {
				case i >= len(seed.table):
					t.Errorf("seed line %d: command not covered by the table: %s", cmds[i].line, cmds[i].text)
					continue
				case i >= len(cmds):
					t.Errorf("table row %d (%q) matches no seed command", i, seed.table[i].cmd)
					continue
				}
				c, row := cmds[i], seed.table[i]
				if !strings.HasPrefix(c.text, row.cmd) {
					t.Errorf("seed line %d: command %q, but table row %d is for %q", c.line, c.text, i, row.cmd)
					continue
				}
				checkCover(t, fmt.Sprintf("seed line %d (%s)", c.line, row.cmd), row, books)
			}
		})
	}
	for _, a := range seedActions {
		data, err := os.ReadFile(filepath.Join("testdata/seeds", a.seed))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), a.text) {
			t.Errorf("%s does not say %q", a.seed, a.text)
		}
		checkCover(t, fmt.Sprintf("%s: %q", a.seed, a.text), a.c, books)
	}
}

// checkCover checks that the runbooks hold what row claims.
func checkCover(t *testing.T, where string, row cover, books map[string]*rawRunbook) {
	t.Helper()
	switch {
	case row.not != "":
		return
	case row.conn != "":
		conn, ok := books[row.file].Connections[row.conn]
		if !ok {
			t.Errorf("%s: %s has no connection %s", where, row.file, row.conn)
		} else if conn["context"] != row.ctx {
			t.Errorf("%s: connection %s has context %q, want %q", where, row.conn, conn["context"], row.ctx)
		}
		return
	}
	st, ok := books[row.file].step(row.step)
	if !ok {
		t.Errorf("%s: %s has no step %s", where, row.file, row.step)
		return
	}
	if st.Kind != row.kind {
		t.Errorf("%s: step %s is of kind %s, want %s", where, row.step, st.Kind, row.kind)
	}
	got := map[string]string{}
	flatten("", st.With, got)
	for k, want := range row.with {
		if v, ok := got[k]; !ok {
			t.Errorf("%s: step %s has no with.%s (want %q)", where, row.step, k, want)
		} else if v != want {
			t.Errorf("%s: step %s with.%s = %q, want %q", where, row.step, k, v, want)
		}
	}
}

// rawRunbook is the part of a runbook file the coverage test reads.
type rawRunbook struct {
	Connections map[string]map[string]string `yaml:"connections"`
	Assess      []rawStep                    `yaml:"assess"`
	Phases      []struct {
		Steps []rawStep `yaml:"steps"`
	} `yaml:"phases"`
}

type rawStep struct {
	ID      string         `yaml:"id"`
	Kind    string         `yaml:"kind"`
	Timeout string         `yaml:"timeout"`
	With    map[string]any `yaml:"with"`
}

func (rb *rawRunbook) step(id string) (rawStep, bool) {
	all := rb.Assess
	for _, p := range rb.Phases {
		all = append(all, p.Steps...)
	}
	for _, s := range all {
		if s.ID == id {
			return s, true
		}
	}
	return rawStep{}, false
}

func readRaw(t *testing.T, path string) *rawRunbook {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rb rawRunbook
	if err := yaml.Unmarshal(data, &rb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &rb
}

// flatten maps dotted paths (lists as [i]) to scalar values.
func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
	case []any:
		for i, x := range v {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), x, out)
		}
	default:
		out[prefix] = fmt.Sprint(v)
	}
}

// secretFields are connection and with fields that hold credentials.
var secretFields = map[string]bool{
	"dsn": true, "password": true, "sentinelPassword": true, "accessKeyId": true, "secretAccessKey": true,
	"authPass": true, "primaryDsn": true, "primaryConnInfo": true,
}

func TestSeedRunbooksHoldNoCredentialsAndBoundEveryStep(t *testing.T) {
	secretRef := regexp.MustCompile(`^\$\{secret:[A-Za-z_][A-Za-z0-9_]*\}$`)
	for _, f := range []string{mimirFailover, mimirFailback, maipFailover, maipFailback} {
		rb := readRaw(t, filepath.Join(runbooksDir, f))
		for name, fields := range rb.Connections {
			for k, v := range fields {
				if secretFields[k] && !secretRef.MatchString(v) {
					t.Errorf("%s: connections.%s.%s is not a ${secret:…} reference", f, name, k)
				}
			}
		}
		all := rb.Assess
		for _, p := range rb.Phases {
			all = append(all, p.Steps...)
		}
		for _, s := range all {
			if s.Timeout == "" {
				t.Errorf("%s: step %s has no timeout", f, s.ID)
			}
			got := map[string]string{}
			flatten("", s.With, got)
			for k, v := range got {
				if secretFields[k[strings.LastIndex(k, ".")+1:]] && !secretRef.MatchString(v) {
					t.Errorf("%s: step %s with.%s is not a ${secret:…} reference", f, s.ID, k)
				}
			}
		}
	}
}
