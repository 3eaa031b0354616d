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

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// DirCatalog is a Catalog of the runbooks in a directory. Every Get and
// List first checks the files (names and contents) and
// reloads the directory when anything changed, so that an edited runbook
// is seen at once — and approvals bound to the old plan become void.
type DirCatalog struct {
	dir  string
	reg  *steps.Registry
	opts []runbook.Option
	log  *slog.Logger

	mu      sync.Mutex
	sig     string
	books   map[string]*runbook.Runbook
	loadErr error
}

var _ Catalog = (*DirCatalog)(nil)

// NewDirCatalog loads the runbooks of dir. It returns the catalog even
// when some files fail to validate (they are left out, and the error says
// why), so that a bad file does not take the bot down.
func NewDirCatalog(dir string, reg *steps.Registry, log *slog.Logger, opts ...runbook.Option) (*DirCatalog, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &DirCatalog{dir: dir, reg: reg, opts: opts, log: log, books: map[string]*runbook.Runbook{}}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	return c, c.loadErr
}

// signature hashes the directory's runbook files, names and contents
// (modification times are too coarse to see two quick edits).
func (c *DirCatalog) signature() string {
	h := sha256.New()
	for _, pat := range []string{"*.yaml", "*.yml"} {
		files, _ := filepath.Glob(filepath.Join(c.dir, pat))
		slices.Sort(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			fmt.Fprintf(h, "%s\x00%d\x00%v\x00", f, len(data), err != nil)
			h.Write(data)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
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

// Reload forces the next look-up to read the directory again.
func (c *DirCatalog) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sig = ""
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
