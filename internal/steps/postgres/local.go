package postgres

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Helpers of postgres.rejoinAsStandby: the OS user, the postmaster, and
// conninfo strings.

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("postgres.rejoinAsStandby: OS user %s: %w", name, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// postmasterAlive reports whether dataDir's postmaster.pid names a live
// process.
func postmasterAlive(dataDir string) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return err == nil && pid > 0 && syscall.Kill(pid, 0) == nil
}

// splitPassword takes the password out of a URL conninfo (it goes to the
// program through PGPASSWORD, not its command line). Keyword/value
// conninfo is returned as is.
func splitPassword(conninfo string) (string, string) {
	u, err := url.Parse(conninfo)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return conninfo, ""
	}
	pw, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	return u.String(), pw
}

// toKeywordValue renders a URL conninfo as keyword=value (what
// primary_conninfo expects); keyword/value input is returned as is.
func toKeywordValue(conninfo string) string {
	u, err := url.Parse(conninfo)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conninfo
	}
	quote := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	var kv []string
	if h := u.Hostname(); h != "" {
		kv = append(kv, "host="+quote(h))
	}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if u.User != nil {
		kv = append(kv, "user="+quote(u.User.Username()))
		if pw, ok := u.User.Password(); ok {
			kv = append(kv, "password="+quote(pw))
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		kv = append(kv, "dbname="+quote(db))
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			kv = append(kv, k+"="+quote(v))
		}
	}
	return strings.Join(kv, " ")
}

func sameHostPort(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	norm := func(h string) string {
		if h == "localhost" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(ah) == norm(bh) && ap == bp
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
