package pgserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// OSUser is the account PostgreSQL programs run as when this process is
// root (PostgreSQL refuses to run as root).
const OSUser = "postgres"

// Credential returns the credential to run PostgreSQL programs with: the
// "postgres" OS user when this process is root, nil (the current user)
// otherwise.
func Credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(OSUser)
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root needs the %q OS user (Debian package `postgresql`): %w", OSUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: uid of %s: %w", OSUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: gid of %s: %w", OSUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Command returns a command running the PostgreSQL program name from
// binDir as the PostgreSQL OS user (see Credential), in a clean locale.
// Its SysProcAttr is set; callers may add to it.
func Command(ctx context.Context, binDir, name string, args ...string) (*exec.Cmd, error) {
	cred, err := Credential()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if cred != nil {
		cmd.Env = append(cmd.Env, "HOME=/tmp", "USER="+OSUser)
	}
	cmd.Dir = os.TempDir() // the PostgreSQL user may not be able to enter our cwd
	return cmd, nil
}

// Chown gives path (not recursively) to the PostgreSQL OS user when this
// process is root; otherwise it does nothing.
func Chown(path string) error {
	cred, err := Credential()
	if err != nil || cred == nil {
		return err
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("pgserver: chown %s to %s: %w", path, OSUser, err)
	}
	return nil
}

// MkdirTemp creates a temporary directory (mode 0700) owned by the
// PostgreSQL OS user, e.g. for pg_basebackup -D <dir>/data. It is made
// directly under os.TempDir, because the PostgreSQL user cannot enter
// t.TempDir() (0700, owned by root). The caller removes it.
func MkdirTemp(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("pgserver: make temporary directory: %w", err)
	}
	if err := Chown(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// writeOwned writes a file readable by the PostgreSQL OS user only.
func writeOwned(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgserver: write %s: %w", path, err)
	}
	return Chown(path)
}
