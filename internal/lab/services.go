package lab

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/failoverbot/failoverbot/internal/pgserver"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// upPostgres starts the primary, its proxy, a base backup through the
// proxy (-R: the standby streams through the proxy) and the standby.
func (l *Lab) upPostgres(ctx context.Context) error {
	l.pgPrimaryData, l.pgStandbyData = l.path("pg-primary"), l.path("pg-standby")
	var err error
	l.pgPrimary, err = pgserver.Start(ctx, pgserver.Options{
		BinDir: l.pgBin, DataDir: l.pgPrimaryData, Password: l.opts.PGPassword, Replication: true,
		// pg_rewind (failback) needs hint bits WAL-logged; a short
		// checkpoint timeout keeps the rewind's work small.
		Conf:              []string{"wal_log_hints = on", "wal_receiver_timeout = '10s'", "wal_sender_timeout = '10s'"},
		KeepOnParentDeath: l.opts.KeepOnParentDeath, Logger: l.log,
	})
	if err != nil {
		return fmt.Errorf("postgres primary: %w", err)
	}
	l.pgPrimaryPort = l.pgPrimary.Port()
	if l.pgProxy, err = newProxy("postgres-primary", fmt.Sprintf("127.0.0.1:%d", l.pgPrimaryPort)); err != nil {
		return err
	}
	// The superuser streams (initdb's pg_hba allows replication for all
	// roles from 127.0.0.1), so one DSN serves the standby, pg_rewind and
	// base backups alike.
	repl, err := url.Parse(l.pgDSN(l.pgProxy.port))
	if err != nil {
		return fmt.Errorf("postgres: replication DSN: %w", err)
	}
	q := repl.Query()
	q.Set("application_name", "lab_standby")
	repl.RawQuery = q.Encode()
	cmd, err := pgserver.Command(ctx, l.pgBin, "pg_basebackup", "-D", l.pgStandbyData, "-d", repl.String(),
		"-R", "-X", "stream", "-c", "fast", "--no-sync")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postgres standby: pg_basebackup: %w: %s", err,
			strings.ReplaceAll(string(out), l.opts.PGPassword, "[redacted]"))
	}
	if l.pgStandbyPort, err = freePort(); err != nil {
		return err
	}
	l.pgStandby, err = pgserver.Start(ctx, pgserver.Options{
		BinDir: l.pgBin, DataDir: l.pgStandbyData, Password: l.opts.PGPassword, Port: l.pgStandbyPort,
		KeepOnParentDeath: l.opts.KeepOnParentDeath, Logger: l.log,
	})
	if err != nil {
		return fmt.Errorf("postgres standby: %w", err)
	}
	return waitFor(ctx, 15*time.Second, "postgres standby streaming", func(ctx context.Context) error {
		return queryIs(ctx, l.pgDSN(l.pgStandbyPort), "SELECT status FROM pg_stat_wal_receiver", "streaming")
	})
}

// stopPostgres stops a server started by pgserver, or by pg_ctl (a server
// that postgres.rejoinAsStandby restarted).
func (l *Lab) stopPostgres(ctx context.Context, s *pgserver.Server, dataDir string) error {
	var errs []error
	if s != nil {
		errs = append(errs, s.Stop())
	}
	if dataDir != "" && postmasterAlive(dataDir) {
		cmd, err := pgserver.Command(ctx, l.pgBin, "pg_ctl", "stop", "-D", dataDir, "-m", "fast", "-w", "-t", "20")
		if err == nil {
			if out, cerr := cmd.CombinedOutput(); cerr != nil {
				err = fmt.Errorf("pg_ctl stop %s: %w: %s", dataDir, cerr, out)
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killPostgres kills the postmaster of dataDir and its children (SIGKILL
// to its process group; pgserver and pg_ctl both start it as a group
// leader) and waits until it is gone.
func (l *Lab) killPostgres(dataDir string) error {
	pid := postmasterPID(dataDir)
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return nil
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres (pid %d) still alive after SIGKILL", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// postmasterPID reads the postmaster's pid from dataDir (0 when none).
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0
	}
	return pid
}

// postmasterAlive reports whether the data directory's postmaster.pid names
// a live process.
func postmasterAlive(dataDir string) bool {
	pid := postmasterPID(dataDir)
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// upRedis starts the master, its proxy, the replica (replicating through
// the proxy) and three Sentinels (monitoring the master through the proxy).
func (l *Lab) upRedis(ctx context.Context) error {
	serverBin, err := findRedisBinary("redis-server")
	if err != nil {
		return err
	}
	sentinelBin, err := findRedisBinary("redis-sentinel")
	if err != nil {
		return err
	}
	pw := l.opts.RedisPassword
	masterPort, err := freePort()
	if err != nil {
		return err
	}
	if l.redisProxy, err = newProxy("redis-primary", fmt.Sprintf("127.0.0.1:%d", masterPort)); err != nil {
		return err
	}
	replicaPort, err := freePort()
	if err != nil {
		return err
	}
	// When the primary region's Redis is a replica (after failback), it
	// announces its proxy address, the one the Sentinels can reach; with
	// seeds, its pod address (seedsRedis.replicaAnnounce).
	announce := []string{"replica-announce-ip 127.0.0.1", "replica-announce-port " + strconv.Itoa(l.redisProxy.port)}
	if l.opts.Seeds {
		if err := l.upSeedsRedis(fmt.Sprintf("127.0.0.1:%d", masterPort), fmt.Sprintf("127.0.0.1:%d", replicaPort)); err != nil {
			return err
		}
		announce = l.seedsRedis.replicaAnnounce()
	}
	conf, err := writeRedisConf(l.dir, "redis-primary", masterPort, pw, announce...)
	if err != nil {
		return err
	}
	l.redisMaster = &redisProc{name: "redis primary", bin: serverBin, conf: conf, port: masterPort, password: pw,
		logPath: l.path("redis-primary.log"), keep: l.opts.KeepOnParentDeath}
	if err := l.redisMaster.Start(ctx); err != nil {
		return err
	}
	conf, err = writeRedisConf(l.dir, "redis-dr", replicaPort, pw, "replicaof 127.0.0.1 "+strconv.Itoa(l.redisProxy.port))
	if err != nil {
		return err
	}
	l.redisReplica = &redisProc{name: "redis dr", bin: serverBin, conf: conf, port: replicaPort, password: pw,
		logPath: l.path("redis-dr.log"), keep: l.opts.KeepOnParentDeath}
	if err := l.redisReplica.Start(ctx); err != nil {
		return err
	}
	var wrap, extra []string
	master := MasterName
	if l.opts.Seeds {
		if err := l.seedsRedis.upPrimarySentinels(ctx, sentinelBin); err != nil {
			return err
		}
		// Monitoring no master at first (SeedsMasterName says why).
		wrap, extra, master = sentinelWrap(l.seedsRedis.hostsFiles["dr"]), sentinelSeedsConf, ""
	}
	errs := make(chan error, 3)
	for i := range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("sentinel-%d", i+1)
		conf, err := writeSentinelConf(l.dir, name, port, master, "127.0.0.1", l.redisProxy.port, pw, extra...)
		if err != nil {
			return err
		}
		s := &redisProc{name: name, bin: sentinelBin, conf: conf, port: port, logPath: l.path(name + ".log"),
			keep: l.opts.KeepOnParentDeath, wrap: wrap}
		l.sentinels = append(l.sentinels, s)
		go func() { errs <- s.Start(ctx) }()
	}
	var all []error
	for range 3 {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	replica := goredis.NewClient(redisOpts(l.redisReplica.Addr(), pw))
	defer replica.Close()
	if err := waitFor(ctx, 15*time.Second, "redis replica link up", func(ctx context.Context) error {
		info, err := replica.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("master link not up yet")
		}
		return nil
	}); err != nil {
		return err
	}
	if master == "" {
		return nil
	}
	// A SENTINEL FAILOVER needs a sentinel that knows the replica.
	for _, s := range l.sentinels {
		sc := goredis.NewSentinelClient(redisOpts(s.Addr(), ""))
		err := waitFor(ctx, 15*time.Second, s.name+" knows the replica", func(ctx context.Context) error {
			r, err := sc.Replicas(ctx, MasterName).Result()
			if err != nil {
				return err
			}
			if len(r) == 0 {
				return errors.New("no replica known yet")
			}
			return nil
		})
		sc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func redisOpts(addr, password string) *goredis.Options {
	return &goredis.Options{Addr: addr, Password: password, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, DialerRetries: 1, PoolSize: 2}
}

// waitFor polls f until it succeeds or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(actx)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: waiting for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// queryIs runs a one-value query and compares its text.
func queryIs(ctx context.Context, dsn, sql, want string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var got *string
	if err := conn.QueryRow(ctx, sql).Scan(&got); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: no rows", sql)
		}
		return err
	}
	if got == nil || *got != want {
		return fmt.Errorf("%s: got %v, want %s", sql, got, want)
	}
	return nil
}
