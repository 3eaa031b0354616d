package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/store"
)

// cmdReport writes a run's report (Markdown) and timeline chart (PNG) from
// the configured store: the same report `/failover report` posts and the
// run's thread got when it ended.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	dir := fs.String("o", ".", "directory to write RUN-report.md and RUN-timeline.png into")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bot report [flags] RUN|last")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg, err := loadCfg()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	red := &secret.Redactor{}
	log := app.NewLogger(cfg, stderr, red)
	paths, err := writeReport(ctx, cfg, red, log, fs.Arg(0), *dir)
	if err != nil {
		fmt.Fprintf(stderr, "bot report: %s\n", red.Scrub(err.Error()))
		return 1
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	return 0
}

// writeReport builds the report of run arg ("last": the newest run) and
// writes its files into dir; it returns their paths.
func writeReport(ctx context.Context, cfg config.Config, red *secret.Redactor, log *slog.Logger, arg, dir string) (paths []string, err error) {
	res := app.Resolver(cfg, nil, red) // registers the bot's credentials with red
	st, err := app.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	id := arg
	if arg == "last" {
		runs, err := st.ListRuns(ctx, store.ListOptions{Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		if len(runs) == 0 {
			return nil, errors.New("there are no runs yet")
		}
		id = runs[0].ID
	}
	run, err := st.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no run %q in the store (`bot report last` is the newest run)", id)
	}
	if err != nil {
		return nil, err
	}
	tl, err := report.Build(ctx, st, id, reportRunbook(cfg, run.Runbook, res, log))
	if err != nil {
		return nil, err
	}
	files, chartErr := tl.Files(red.Scrub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report directory: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	if chartErr != nil {
		return paths, chartErr
	}
	if run.StartedAt.IsZero() {
		log.WarnContext(ctx, "the run never started: its report has no chart", "run", id)
	}
	return paths, nil
}

// reportRunbook is the run's runbook from the configured directory, for
// its steps' names and order; nil (steps named by ID) when it does not load.
func reportRunbook(cfg config.Config, name string, res *secret.Resolver, log *slog.Logger) *runbook.Runbook {
	reg, err := builtin.Registry()
	if err != nil {
		return nil
	}
	all, err := runbook.LoadDir(cfg.RunbookDir, reg, runbook.WithSecrets(res), runbook.WithLogger(log))
	if rb := all[name]; rb != nil {
		return rb
	}
	log.Warn("the run's runbook does not load: the report names its steps by ID", "runbook", name, "dir", cfg.RunbookDir, "err", err)
	return nil
}
