package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// In the seeds' clusters each region's Redis is redis-0.redis-service
// (redis-0.redis-service.mimir.svc.cluster.local) at port 6379, the
// address the seed runbooks name in their own fields (SENTINEL MONITOR
// mymaster redis-0.redis-service 6379, REPLICAOF <DR endpoint> 6379). On
// this machine, with Options.Seeds, each region's Redis gets a loopback
// address of its own (Linux routes all of 127.0.0.0/8 to lo) with a
// listener on port 6379 that forwards to it (and the DR PostgreSQL one on
// 5432), and each region's Sentinels — the lab's three are the DR
// region's, three more the primary's — run in a private mount namespace
// whose /etc/hosts maps the in-cluster names to their region's address.
// Two labs on one machine pick different addresses.

// SeedsMasterName is the name the seeds' Sentinels monitor redis-0 under.
// With seeds the lab's own Sentinels (the DR region's) start monitoring no
// master: watching the lab's MasterName, the primary Redis, they would
// turn the DR Redis the failover promoted into a replica of the restored,
// empty primary, as no Sentinel of the seeds' regions does.
const SeedsMasterName = "mymaster"

// RedisPodPort is the port of redis-0.redis-service in the seeds.
const RedisPodPort = 6379

// redisPodNames are the names redis-0 of namespace mimir answers to.
var redisPodNames = []string{"redis-0.redis-service", "redis-0.redis-service.mimir", "redis-0.redis-service.mimir.svc.cluster.local"}

// seedsRedis is the seeds' part of the lab's data stores: the regions'
// addresses, and the primary region's own three Sentinels (the lab's
// Sentinels are the DR region's).
type seedsRedis struct {
	primary, dr *proxy // <region address>:6379 → the region's Redis
	pgDR        *proxy // <DR address>:5432 → the DR PostgreSQL
	// hostsFiles are the /etc/hosts of each region's Sentinels:
	// redis-0.redis-service is that region's redis-0.
	hostsFiles map[string]string
	sentinels  []*redisProc // the primary region's
	bin        string       // redis-sentinel
	dir        string
	password   string
	keep       bool
}

// upSeedsRedis gives each region's Redis its address at port 6379 and
// writes the Sentinels' hosts files. The primary's listener forwards to
// the server itself; it fails with the region (primaryProxies).
func (l *Lab) upSeedsRedis(masterAddr, replicaAddr string) error {
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("lab: seeds: the Sentinels run in their own mount namespace: unshare not found (Debian package util-linux): %w", err)
	}
	s := &seedsRedis{dir: l.dir, password: l.opts.RedisPassword, keep: l.opts.KeepOnParentDeath}
	var err error
	for range 20 {
		// 127.a.b.1 and 127.a.b.2, away from 127.0.0.0/16 (127.0.1.1 is
		// Debian's hostname address).
		base := fmt.Sprintf("127.%d.%d.", 10+rand.IntN(240), rand.IntN(256))
		if s.primary, err = newProxyAt("redis-primary-pod", net.JoinHostPort(base+"1", strconv.Itoa(RedisPodPort)), masterAddr); err != nil {
			continue
		}
		if s.dr, err = newProxyAt("redis-dr-pod", net.JoinHostPort(base+"2", strconv.Itoa(RedisPodPort)), replicaAddr); err != nil {
			s.primary.Close()
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("lab: seeds: no free loopback address for port %d: %w", RedisPodPort, err)
	}
	l.seedsRedis = s
	s.hostsFiles = map[string]string{"primary": l.path("hosts-primary"), "dr": l.path("hosts-dr")}
	for region, p := range map[string]*proxy{"primary": s.primary, "dr": s.dr} {
		if err := writeHostsFile(s.hostsFiles[region], p.host, redisPodNames); err != nil {
			return err
		}
	}
	return nil
}

// replicaAnnounce is what the primary region's Redis announces when it is
// a replica (mimir-failback): its pod address at 6379, which the DR
// Sentinels reach, as across two clusters whose pod networks route to
// each other. Knowing it as DR redis-0's replica, they would turn it back
// into one once promote_primary_redis makes it a master, unless the
// runbook first points them at it (dr_sentinels).
func (s *seedsRedis) replicaAnnounce() []string {
	return []string{"replica-announce-ip " + s.primary.host, "replica-announce-port " + strconv.Itoa(RedisPodPort)}
}

// upPrimarySentinels starts the primary region's Sentinels, which monitor
// mymaster at redis-0.redis-service 6379 as in the cluster.
func (s *seedsRedis) upPrimarySentinels(ctx context.Context, sentinelBin string) error {
	s.bin = sentinelBin
	for i := range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("sentinel-primary-%d", i+1)
		s.sentinels = append(s.sentinels, &redisProc{name: name, bin: sentinelBin, port: port, logPath: filepath.Join(s.dir, name+".log"),
			keep: s.keep, wrap: sentinelWrap(s.hostsFiles["primary"])})
	}
	return s.startPrimarySentinels(ctx)
}

// startPrimarySentinels starts the primary region's Sentinels that are not
// running, each from a new configuration as its pod's would be: after an
// outage they know no replica from before (the DR Redis, the writer now,
// which they would otherwise turn back into a replica).
func (s *seedsRedis) startPrimarySentinels(ctx context.Context) error {
	errs := make(chan error, len(s.sentinels))
	for _, r := range s.sentinels {
		if r.Running() {
			errs <- nil
			continue
		}
		conf, err := writeSentinelConf(s.dir, r.name, r.port, SeedsMasterName, redisPodNames[0], RedisPodPort, s.password, sentinelSeedsConf...)
		if err != nil {
			return err
		}
		r.conf = conf
		go func() { errs <- r.Start(ctx) }()
	}
	var all []error
	for range s.sentinels {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// stopPrimarySentinels kills the primary region's Sentinels (nil-safe).
func (s *seedsRedis) stopPrimarySentinels() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, r := range s.sentinels {
		errs = append(errs, r.Stop())
	}
	return errors.Join(errs...)
}

// upSeedsPostgres gives the DR PostgreSQL its address at port 5432 (the
// DR endpoint of mimir-failback's pg_basebackup, which connects as the
// primary's role replicator, pgserver's, with the lab's password).
func (l *Lab) upSeedsPostgres() error {
	var err error
	s := l.seedsRedis
	if s.pgDR, err = newProxyAt("postgres-dr-pod", net.JoinHostPort(s.dr.host, "5432"), fmt.Sprintf("127.0.0.1:%d", l.pgStandbyPort)); err != nil {
		return fmt.Errorf("lab: seeds: %w", err)
	}
	return nil
}

// writeHostsFile writes this machine's /etc/hosts to path with names
// mapped to addr.
func writeHostsFile(path, addr string, names []string) error {
	b, err := os.ReadFile("/etc/hosts")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: read /etc/hosts: %w", err)
	}
	hosts := strings.TrimRight(string(b), "\n") + "\n" + addr + " " + strings.Join(names, " ") + "\n"
	if err := os.WriteFile(path, []byte(hosts), 0o644); err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	return nil
}

// sentinelWrap is the command a seeds' Sentinel runs under: unshare(1) gives
// it a private mount namespace in which hostsFile is /etc/hosts. A mount
// that fails ends the process with the error in its log, which fails Up.
func sentinelWrap(hostsFile string) []string {
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hostsFile}
}

// sentinelSeedsConf are the Sentinel settings of the seeds: hostnames in
// SENTINEL MONITOR are resolved (through the namespace's /etc/hosts) and
// kept, so GET-MASTER-ADDR-BY-NAME answers redis-0.redis-service 6379, as
// the step that set it names it.
var sentinelSeedsConf = []string{"sentinel resolve-hostnames yes", "sentinel announce-hostnames yes"}

// proxies are the regions' listeners (nil without seeds).
func (s *seedsRedis) proxies() []*proxy {
	if s == nil {
		return nil
	}
	return []*proxy{s.primary, s.dr, s.pgDR}
}

// env adds the regions' redis-0 addresses: LAB_REDIS_PRIMARY_POD_ADDR and
// LAB_REDIS_DR_POD_ADDR (host:6379); the primary region's Sentinels
// (LAB_REDIS_PRIMARY_SENTINELS, MIMIR_PRIMARY_REDIS_SENTINELS); the DR
// servers as the primary cluster reaches them, MIMIR_DR_REDIS_ENDPOINT
// (mimir-failback's REPLICAOF … 6379) and MIMIR_DR_POSTGRES_ENDPOINT (its
// pg_basebackup -h, port 5432); and the primary redis-0 as the DR
// Sentinels reach it, MIMIR_PRIMARY_REDIS_ENDPOINT (its dr_sentinels).
func (s *seedsRedis) env(env map[string]string) {
	if s == nil {
		return
	}
	env["LAB_REDIS_PRIMARY_POD_ADDR"] = s.primary.Addr()
	env["LAB_REDIS_DR_POD_ADDR"] = s.dr.Addr()
	sentinels := make([]string, len(s.sentinels))
	for i, r := range s.sentinels {
		sentinels[i] = r.Addr()
	}
	env["LAB_REDIS_PRIMARY_SENTINELS"] = strings.Join(sentinels, ",")
	env["MIMIR_PRIMARY_REDIS_SENTINELS"] = env["LAB_REDIS_PRIMARY_SENTINELS"]
	env["MIMIR_DR_REDIS_ENDPOINT"] = s.dr.host
	env["MIMIR_PRIMARY_REDIS_ENDPOINT"] = s.primary.host
	if s.pgDR != nil {
		env["MIMIR_DR_POSTGRES_ENDPOINT"] = s.dr.host
	}
}
