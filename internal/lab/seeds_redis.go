package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// In the seeds' clusters each region's Redis is redis-0.redis-service
// (redis-0.redis-service.mimir.svc.cluster.local) at port 6379, the
// address the seed runbooks name in their own fields (SENTINEL MONITOR
// mymaster redis-0.redis-service 6379, REPLICAOF <DR endpoint> 6379). On
// this machine, with Options.Seeds, each region's Redis gets a loopback
// address of its own (Linux routes all of 127.0.0.0/8 to lo) with a
// listener on port 6379 that forwards to it, and the Sentinels run in a
// private mount namespace whose /etc/hosts maps the in-cluster names to the
// DR region's address. Two labs on one machine pick different addresses.

// RedisPodPort is the port of redis-0.redis-service in the seeds.
const RedisPodPort = 6379

// redisPodNames are the names redis-0 of namespace mimir answers to.
var redisPodNames = []string{"redis-0.redis-service", "redis-0.redis-service.mimir", "redis-0.redis-service.mimir.svc.cluster.local"}

// seedsRedis is the seeds' part of the lab's Redis.
type seedsRedis struct {
	primary, dr *proxy // <region address>:6379 → the region's Redis
	hostsFile   string // /etc/hosts of the Sentinels: redis-0.redis-service is DR redis-0
}

// upSeedsRedis gives each region's Redis its address at port 6379 and
// writes the Sentinels' hosts file. The primary's listener forwards to
// the server itself; it fails with the region (primaryProxies).
func (l *Lab) upSeedsRedis(masterAddr, replicaAddr string) error {
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("lab: seeds: the Sentinels run in their own mount namespace: unshare not found (Debian package util-linux): %w", err)
	}
	s := &seedsRedis{}
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
	s.hostsFile = l.path("sentinel-hosts")
	return writeHostsFile(s.hostsFile, s.dr.host, redisPodNames)
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

// proxies are the listeners on port 6379 (nil without seeds).
func (s *seedsRedis) proxies() []*proxy {
	if s == nil {
		return nil
	}
	return []*proxy{s.primary, s.dr}
}

// env adds the regions' redis-0 addresses: LAB_REDIS_PRIMARY_POD_ADDR and
// LAB_REDIS_DR_POD_ADDR (host:6379), and MIMIR_DR_REDIS_ENDPOINT, the DR
// redis-0 as the primary cluster reaches it (mimir-failback's REPLICAOF).
func (s *seedsRedis) env(env map[string]string) {
	if s == nil {
		return
	}
	env["LAB_REDIS_PRIMARY_POD_ADDR"] = s.primary.Addr()
	env["LAB_REDIS_DR_POD_ADDR"] = s.dr.Addr()
	env["MIMIR_DR_REDIS_ENDPOINT"] = s.dr.host
}
