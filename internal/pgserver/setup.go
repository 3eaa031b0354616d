package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/failoverbot/failoverbot/internal/freeport"
	"github.com/jackc/pgx/v5"
)

func (s *Server) initdb(ctx context.Context) error {
	args := []string{"-D", s.dataDir, "-U", "postgres", "--encoding=UTF8", "--locale=C",
		"--no-sync", "--no-instructions"}
	if s.opts.Password == "" {
		args = append(args, "--auth=trust")
	} else {
		pwfile := filepath.Join(s.baseDir, "pwfile")
		if err := writeOwned(pwfile, s.opts.Password+"\n"); err != nil {
			return err
		}
		defer os.Remove(pwfile)
		args = append(args, "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	}
	cmd, err := Command(ctx, s.binDir, "initdb", args...)
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgserver: initdb %s: %w: %s", s.dataDir, err, lastLines(string(out), 10))
	}
	if err := s.writeConf(); err != nil {
		return err
	}
	return s.writeHBA()
}

func (s *Server) writeConf() error {
	conf := []string{"", "# pgserver"}
	if s.opts.Replication {
		conf = append(conf, "wal_level = replica", "max_wal_senders = 10",
			"max_replication_slots = 10", "hot_standby = on", "wal_keep_size = '256MB'",
			"fsync = off", "synchronous_commit = off")
	} else {
		conf = append(conf, "fsync = off", "synchronous_commit = off", "full_page_writes = off",
			"wal_level = minimal", "max_wal_senders = 0")
	}
	conf = append(conf, "shared_buffers = '32MB'", "max_connections = 200",
		"log_min_messages = warning", "log_line_prefix = '%m [%p] '")
	conf = append(conf, s.opts.Conf...)
	f, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgserver: open postgresql.conf: %w", err)
	}
	_, werr := io.WriteString(f, strings.Join(conf, "\n")+"\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("pgserver: write postgresql.conf: %w", err)
	}
	return nil
}

func (s *Server) writeHBA() error {
	path := filepath.Join(s.dataDir, "pg_hba.conf")
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("pgserver: read pg_hba.conf: %w", err)
	}
	lines := append([]string{"# pgserver"}, s.opts.HBA...)
	if s.opts.Replication {
		method := "trust"
		if s.opts.ReplicationPassword != "" {
			method = "scram-sha-256"
		}
		lines = append(lines, fmt.Sprintf("host replication %s 127.0.0.1/32 %s", s.opts.ReplicationUser, method))
	}
	content := strings.Join(lines, "\n") + "\n" + string(old)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgserver: write pg_hba.conf: %w", err)
	}
	return nil
}

func (s *Server) createReplicationRole(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		return fmt.Errorf("pgserver: connect to create replication role: %w", err)
	}
	defer conn.Close(context.Background())
	sql := "CREATE ROLE " + pgx.Identifier{s.opts.ReplicationUser}.Sanitize() + " WITH REPLICATION LOGIN"
	if s.opts.ReplicationPassword != "" {
		// Utility statements take no parameters; quote the literal.
		sql += " PASSWORD '" + strings.ReplaceAll(s.opts.ReplicationPassword, "'", "''") + "'"
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgserver: create replication role %s: %w", s.opts.ReplicationUser, err)
	}
	return nil
}

// FindBinDir finds the PostgreSQL programs: the newest
// /usr/lib/postgresql/*/bin holding initdb and postgres, else
// `pg_config --bindir`. The error names the Debian package to install.
func FindBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasServer(d) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); hasServer(d) {
			return d, nil
		}
	}
	return "", missingErr("/usr/lib/postgresql/*/bin or `pg_config --bindir`")
}

func missingErr(where string) error {
	return fmt.Errorf("pgserver: PostgreSQL server binaries (initdb, postgres) not found in %s: "+
		"install the Debian package `postgresql` (apt-get install postgresql)", where)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

func freePort() (int, error) {
	p, err := freeport.One()
	if err != nil {
		return 0, fmt.Errorf("pgserver: %w", err)
	}
	return p, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
