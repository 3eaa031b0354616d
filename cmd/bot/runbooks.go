package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/commands"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

// cmdValidate checks runbook files and prints every error with its place.
func cmdValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: bot validate [flags] FILE|DIR…"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	// Only the configuration's policy of references matters here (which
	// ${env:…} and ${secret:…} runbooks may name): a configuration that
	// does not decode is an error, a runbook directory elsewhere is not.
	cfg, err := loadCfg()
	if err != nil && cfg.RunbookDir == "" {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := cfg.Policy().Validate(); err != nil {
		fmt.Fprintf(stderr, "bot validate: configuration: runbookEnv: %v\n", err)
		return 2
	}
	ropts := []runbook.Option{runbook.WithSecrets(app.Resolver(cfg, nil, &secret.Redactor{}))}
	reg, err := builtin.Registry()
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return 1
	}
	files, err := runbookFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "bot validate: %v\n", err)
		return 1
	}
	overlay, err := app.LoadOverlay(cfg, reg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ropts = append(ropts, runbook.WithOverlay(overlay))
	failed := 0
	var loaded []*runbook.Runbook
	for _, f := range files {
		rb, err := runbook.Load(f, reg, ropts...)
		if err != nil {
			failed++
			fmt.Fprintln(stderr, err)
			continue
		}
		loaded = append(loaded, rb)
		fmt.Fprintf(stdout, "%s: ok: runbook %s, %d checks, %d phases, %d steps, plan %s\n",
			f, rb.Name, len(rb.Assess), len(rb.Phases), len(rb.AllSteps()), short(rb.Hash))
	}
	if err := overlay.Check(loaded); err != nil {
		fmt.Fprintln(stderr, err)
		failed++
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d of %d runbooks are invalid (or the connections overlay is)\n", failed, len(files))
		return 1
	}
	return 0
}

// runbookFiles expands directories into their *.yaml / *.yml files.
func runbookFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, errors.Unwrap(err))
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pat))
			files = append(files, m...)
		}
	}
	return files, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// cmdPlan prints the dry run of a runbook: Check on every step, no Apply.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on the whole dry run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bot plan [flags] RUNBOOK|FILE [param=value…]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg, err := loadCfg()
	if err != nil && !strings.HasSuffix(fs.Arg(0), ".yaml") {
		fmt.Fprintln(stderr, err)
		return 2
	}
	params, err := parseParams(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "bot plan: %v\n", err)
		return 2
	}
	red := &secret.Redactor{}
	log := app.NewLogger(cfg, stderr, red)
	res := app.Resolver(cfg, nil, red)
	reg, err := builtin.Registry()
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return 1
	}
	overlay, err := app.LoadOverlay(cfg, reg)
	if err != nil {
		fmt.Fprintf(stderr, "bot plan: %v\n", err)
		return 1
	}
	rb, err := findRunbook(fs.Arg(0), cfg.RunbookDir, reg, runbook.WithSecrets(res), runbook.WithLogger(log), runbook.WithOverlay(overlay))
	if err != nil {
		fmt.Fprintln(stderr, red.Scrub(err.Error()))
		return 1
	}
	bound, err := rb.BindParams(params)
	if err == nil {
		err = rb.CheckSecrets(res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot plan %s: %s\n", rb.Name, red.Scrub(err.Error()))
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	planner := &executor.Planner{Logger: log, Redactor: red}
	plan, err := planner.Plan(ctx, rb, bound)
	if err != nil {
		fmt.Fprintf(stderr, "bot plan %s: %s\n", rb.Name, red.Scrub(err.Error()))
		return 1
	}
	view := &chat.PlanView{Runbook: rb.Name, PlanHash: plan.Hash, Params: bound, Steps: commands.PlanSteps(plan), Overlay: rb.OverlayDescription(),
		Preflight: commands.PreflightView(planner.Preflight(ctx, rb, bound))}
	fmt.Fprintln(stdout, red.Scrub(console.Render(chat.Message{View: view})))
	return 0
}

// findRunbook loads a runbook file, or the runbook of that name in dir.
func findRunbook(arg, dir string, reg *steps.Registry, opts ...runbook.Option) (*runbook.Runbook, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return runbook.Load(arg, reg, opts...)
	}
	all, err := runbook.LoadDir(dir, reg, opts...)
	if err != nil {
		return nil, err
	}
	rb, ok := all[arg]
	if !ok {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		return nil, fmt.Errorf("no runbook named %q in %s (have: %s)", arg, dir, strings.Join(names, ", "))
	}
	return rb, nil
}

// parseParams reads name=value arguments.
func parseParams(args []string) (map[string]string, error) {
	params := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("argument %q: want param=value", a)
		}
		params[k] = v
	}
	return params, nil
}

// cmdKinds lists the registered step kinds.
func cmdKinds(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	reg, err := builtin.Registry()
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return 1
	}
	for _, name := range reg.Kinds() {
		k, _ := reg.Kind(name)
		status := "implemented"
		if !k.Implemented() {
			status = "declared"
		}
		ro := ""
		if k.ReadOnly() {
			ro = " (read-only)"
		}
		fmt.Fprintf(stdout, "%-34s %-11s %s%s\n", name, status, k.Doc(), ro)
	}
	return 0
}
