package main

import (
	"os"
	"path/filepath"
	"testing"
)

// botDir is a directory a test runs the bot in: runbooks/ with the
// test's runbooks, the SQLite store bot.db, and the script files it
// writes for `bot console -script`.
type botDir struct {
	t        testing.TB
	dir      string
	runbooks string
	store    string
}

// newBotDir makes a botDir with the runbooks given (file name → YAML).
func newBotDir(t testing.TB, runbooks map[string]string) *botDir {
	t.Helper()
	dir := t.TempDir()
	d := &botDir{t: t, dir: dir, runbooks: filepath.Join(dir, "runbooks"), store: filepath.Join(dir, "bot.db")}
	if err := os.Mkdir(d.runbooks, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range runbooks {
		d.write(filepath.Join("runbooks", name), body)
	}
	return d
}

// write writes body to the file name under the directory and returns its
// path.
func (d *botDir) write(name, body string) string {
	d.t.Helper()
	path := filepath.Join(d.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return path
}

// console is the command line of `bot console` running script (written
// to the file name) on the directory's runbooks and store, as instance,
// logging at info, with flags after.
func (d *botDir) console(name, script, instance string, flags ...string) []string {
	d.t.Helper()
	args := []string{"console", "-script", d.write(name, script), "-runbooks", d.runbooks, "-store", d.store,
		"-instance", instance, "-log-level", "info"}
	return append(args, flags...)
}
