package commands

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// DirCatalog is a Catalog of the runbooks in a directory. Every Get and
// List first checks the files and reloads the directory when anything
// changed, so that an edited runbook is seen at once — and approvals bound
// to the old plan become void (the executor checks a run's plan hash
// against the runbook before it starts it). Checking costs a stat per file:
// a file's contents are hashed again only when its stat (size, mtime,
// ctime, inode) changed or when it was last read within settleWindow of its
// mtime, when a second write of the same size could keep the same mtime.
type DirCatalog struct {
	dir  string
	reg  *steps.Registry
	opts []runbook.Option
	log  *slog.Logger
	// now, stat and read are replaced by tests.
	now  func() time.Time
	stat func(string) (os.FileInfo, error)
	read func(string) ([]byte, error)

	mu      sync.Mutex
	sig     string
	files   map[string]fileState
	books   map[string]*runbook.Runbook
	loadErr error
}

// settleWindow is how long after its mtime a file's contents are not
// trusted to be final: within it, a rewrite of the same size may keep the
// same mtime (coarse file system clocks), so the file is read again.
const settleWindow = 2 * time.Second

// fileStamp is what a stat says about a file.
type fileStamp struct {
	size         int64
	mtime, ctime int64 // ns
	dev, ino     uint64
}

// fileState is a file as last checked: its stamp, the hash of its
// contents, and whether that hash is settled (read after settleWindow).
type fileState struct {
	stamp   fileStamp
	hash    [sha256.Size]byte
	settled bool
}

var _ Catalog = (*DirCatalog)(nil)

// NewDirCatalog loads the runbooks of dir. It returns the catalog even
// when some files fail to validate (they are left out, and the error says
// why), so that a bad file does not take the bot down.
func NewDirCatalog(dir string, reg *steps.Registry, log *slog.Logger, opts ...runbook.Option) (*DirCatalog, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &DirCatalog{dir: dir, reg: reg, opts: opts, log: log, now: time.Now, stat: os.Stat, read: os.ReadFile,
		files: map[string]fileState{}, books: map[string]*runbook.Runbook{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	return c, c.loadErr
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ctime = sys.Ctim.Nano()
		st.dev, st.ino = uint64(sys.Dev), sys.Ino
	}
	return st
}

// signature hashes the directory's runbook files: names and contents,
// each file read only when its stat does not vouch for what was read last
// time; a file over runbook.MaxFileSize is never read (its stat stands in
// for its contents, and loading it fails with the limit).
func (c *DirCatalog) signature() string {
	h := sha256.New()
	seen := map[string]bool{}
	for _, pat := range []string{"*.yaml", "*.yml"} {
		files, _ := filepath.Glob(filepath.Join(c.dir, pat))
		slices.Sort(files)
		for _, f := range files {
			seen[f] = true
			st, ok := c.check(f)
			fmt.Fprintf(h, "%s\x00%v\x00%x\x00", f, ok, st.hash)
		}
	}
	for f := range c.files {
		if !seen[f] {
			delete(c.files, f)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// check returns the state of file f, reading it only when needed; ok is
// false when it cannot be read.
func (c *DirCatalog) check(f string) (fileState, bool) {
	fi, err := c.stat(f)
	if err != nil {
		delete(c.files, f)
		return fileState{}, false
	}
	stamp := stampOf(fi)
	if old, ok := c.files[f]; ok && old.settled && old.stamp == stamp {
		return old, true
	}
	now := c.now()
	st := fileState{stamp: stamp, settled: now.Sub(fi.ModTime()) > settleWindow}
	if fi.Size() > runbook.MaxFileSize {
		st.hash = sha256.Sum256(fmt.Appendf(nil, "too big %+v", stamp))
	} else {
		data, err := c.read(f)
		if err != nil {
			delete(c.files, f)
			return fileState{}, false
		}
		st.hash = sha256.Sum256(data)
	}
	c.files[f] = st
	return st, true
}

func (c *DirCatalog) refreshLocked() {
	sig := c.signature()
	if sig == c.sig && c.sig != "" {
		return
	}
	books, err := runbook.LoadDir(c.dir, c.reg, c.opts...)
	if books == nil {
		books = map[string]*runbook.Runbook{}
	}
	if err != nil {
		c.log.Error("load runbooks", "dir", c.dir, "err", err)
	} else if c.sig != "" {
		c.log.Info("runbooks reloaded", "dir", c.dir, "runbooks", slices.Sorted(maps.Keys(books)))
	}
	c.sig, c.books, c.loadErr = sig, books, err
}

// Reload reads the directory again, every file.
func (c *DirCatalog) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sig = ""
	clear(c.files)
	c.refreshLocked()
	return c.loadErr
}

// LoadError is the error of the last (re)load, or nil.
func (c *DirCatalog) LoadError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadErr
}

// Get returns the current version of the runbook name.
func (c *DirCatalog) Get(name string) (*runbook.Runbook, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	if rb := c.books[name]; rb != nil {
		return rb, nil
	}
	names := slices.Sorted(maps.Keys(c.books))
	msg := fmt.Sprintf("unknown runbook %q", name)
	if len(names) > 0 {
		msg += " (runbooks: " + strings.Join(names, ", ") + ")"
	} else {
		msg += " (no runbooks are loaded from " + c.dir + ")"
	}
	if c.loadErr != nil {
		msg += "; some runbook files do not load: " + firstLine(c.loadErr.Error())
	}
	return nil, fmt.Errorf("%s", msg)
}

// List returns every runbook, by name.
func (c *DirCatalog) List() []*runbook.Runbook {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	out := make([]*runbook.Runbook, 0, len(c.books))
	for _, n := range slices.Sorted(maps.Keys(c.books)) {
		out = append(out, c.books[n])
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// StaticCatalog is a fixed Catalog (tests, embedded runbooks).
type StaticCatalog map[string]*runbook.Runbook

// Get returns the runbook name.
func (s StaticCatalog) Get(name string) (*runbook.Runbook, error) {
	if rb := s[name]; rb != nil {
		return rb, nil
	}
	return nil, fmt.Errorf("unknown runbook %q (runbooks: %s)", name, strings.Join(slices.Sorted(maps.Keys(s)), ", "))
}

// List returns the runbooks by name.
func (s StaticCatalog) List() []*runbook.Runbook {
	var out []*runbook.Runbook
	for _, n := range slices.Sorted(maps.Keys(s)) {
		out = append(out, s[n])
	}
	return out
}
