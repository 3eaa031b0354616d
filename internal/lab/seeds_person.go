package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/pgserver"
)

// What mimir-failback's gates ask a person to do in the primary and DR
// clusters, done to the lab's servers (the seed tests play that person).

// PrimaryRestoreDir is where primary_basebackup's pg_basebackup -D
// /tmp/restore writes in the primary region's postgres-0.
func (l *Lab) PrimaryRestoreDir() string {
	return filepath.Join(l.podRoot("primary"), "tmp", "restore")
}

// StartPrimaryOnBaseBackup is gate primary_pg_standby: restart postgres-0
// of the primary region (stopped) on the base backup in its /tmp/restore,
// which holds standby.signal and primary_conninfo pointing at DR. It
// listens where the primary's did, behind the region's proxy.
func (l *Lab) StartPrimaryOnBaseBackup(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	dir := l.PrimaryRestoreDir()
	if _, err := os.Stat(filepath.Join(dir, "backup_manifest")); err != nil {
		return fmt.Errorf("lab: no complete base backup in postgres-0's /tmp/restore: %w", err)
	}
	if postmasterAlive(l.pgPrimaryData) {
		return fmt.Errorf("lab: the primary PostgreSQL still runs on %s", l.pgPrimaryData)
	}
	if err := chownTree(dir); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if err := l.pgCtlStart(ctx, dir, l.pgPrimaryPort, "pg-primary-restored.log"); err != nil {
		return fmt.Errorf("lab: start postgres-0 on the base backup: %w", err)
	}
	l.pgPrimaryData = dir
	return nil
}

// ReseedDR is gate reseed_dr: rebuild the DR PostgreSQL as a streaming
// standby of the primary from a fresh base backup (through the primary's
// proxy, as the lab's standby starts), and make the DR Redis a replica of
// the primary region's redis-0 (its address at 6379). The DR region's
// Sentinels are left as the runbook leaves them.
func (l *Lab) ReseedDR(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stopPostgres(ctx, l.pgStandby, l.pgStandbyData); err != nil {
		return fmt.Errorf("lab: stop the DR PostgreSQL: %w", err)
	}
	l.pgStandby = nil
	if err := os.RemoveAll(l.pgStandbyData); err != nil {
		return err
	}
	repl, err := url.Parse(l.pgDSN(l.pgProxy.port))
	if err != nil {
		return err
	}
	q := repl.Query()
	q.Set("application_name", "lab_standby")
	repl.RawQuery = q.Encode()
	cmd, err := pgserver.Command(ctx, l.pgBin, "pg_basebackup", "-D", l.pgStandbyData, "-d", repl.String(), "-R", "-X", "stream", "-c", "fast", "--no-sync")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: DR base backup: %w: %s", err, strings.ReplaceAll(string(out), l.opts.PGPassword, "[redacted]"))
	}
	if err := l.pgCtlStart(ctx, l.pgStandbyData, l.pgStandbyPort, "pg-standby-reseeded.log"); err != nil {
		return fmt.Errorf("lab: start the DR standby: %w", err)
	}
	rc := goredis.NewClient(redisOpts(l.redisReplica.Addr(), l.opts.RedisPassword))
	defer rc.Close()
	host, port := "127.0.0.1", strconv.Itoa(l.redisProxy.port)
	if l.seedsRedis != nil {
		host, port = l.seedsRedis.primary.host, strconv.Itoa(RedisPodPort)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rc.ReplicaOf(rctx, host, port).Err(); err != nil {
		return fmt.Errorf("lab: DR Redis REPLICAOF %s %s: %w", host, port, err)
	}
	return nil
}

// pgCtlStart starts a server on dataDir with pg_ctl, listening on port.
func (l *Lab) pgCtlStart(ctx context.Context, dataDir string, port int, logName string) error {
	cmd, err := pgserver.Command(ctx, l.pgBin, "pg_ctl", "start", "-D", dataDir, "-w", "-t", "30",
		"-l", l.path(logName), "-o", l.pgStartOptions(port))
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start %s: %w: %s %s", dataDir, err, out, tail(l.path(logName), 10))
	}
	return nil
}

// chownTree gives dir and everything under it to the PostgreSQL OS user.
func chownTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		return errors.Join(err, pgserver.Chown(p))
	})
}
