package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// shutdownTimeout bounds the draining of work when the bot stops.
const shutdownTimeout = 30 * time.Second

// cmdServe runs the Slack bot in socket mode until interrupted, with the
// operations endpoints (/healthz, /readyz, /metrics) on -metrics-addr.
func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	metricsAddr := fs.String("metrics-addr", os.Getenv("FAILOVER_METRICS_ADDR"),
		"serve /healthz, /readyz and /metrics on this address, e.g. :9090 (env FAILOVER_METRICS_ADDR; empty: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadCfg()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	red := &secret.Redactor{}
	log := app.NewLogger(cfg, stderr, red)
	scfg, err := slack.ConfigFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
		return 2
	}
	bot, err := slack.New(scfg, nil, log.With("component", "slack"))
	if err != nil {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
		return 2
	}
	o := newOps(log, red, bot)
	bot.SetObserver(o.metrics)
	ctx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	opsDone := make(chan error, 1)
	if *metricsAddr != "" {
		srv, err := o.listen(*metricsAddr)
		if err != nil {
			fmt.Fprintf(stderr, "bot serve: %v\n", err)
			return 2
		}
		log.Info("operations endpoints listening", "addr", srv.Addr())
		go func() { opsDone <- srv.Serve(ctx) }()
	} else {
		close(opsDone)
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Poster: bot.Poster(), Directory: bot.Directory(), Logger: log, Redactor: red,
		Instruments: o.metrics})
	if err != nil {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
		return 1
	}
	o.attach(a)
	go o.store.Run(ctx)
	bot.SetHandler(a.Handler)
	code := 0
	if err := a.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
		code = 1
	} else if err := bot.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
		code = 1
	}
	cctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.Close(cctx); err != nil {
		fmt.Fprintf(stderr, "bot serve: shutdown: %v\n", err)
	}
	stopOps()
	if err := <-opsDone; err != nil {
		fmt.Fprintf(stderr, "bot serve: %v\n", err)
	}
	return code
}

// cmdConsole runs the chat interface in the terminal (or a script).
func cmdConsole(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	as := fs.String("as", "oncall-1", "the user you act as")
	script := fs.String("script", "", "run the commands of FILE non-interactively; exit 1 if one fails")
	reports := fs.String("reports", "", "directory the console writes shared files into, each run's report and chart (default: reports/ next to the SQLite store)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadCfg()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	in := io.Reader(os.Stdin)
	if *script != "" {
		f, err := os.Open(*script)
		if err != nil {
			fmt.Fprintf(stderr, "bot console: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	if *reports == "" {
		*reports = defaultReports(cfg)
	}
	err = runConsole(ctx, consoleRun{cfg: cfg, in: in, out: stdout, stderr: stderr, as: *as, script: *script != "", uploads: *reports})
	if err != nil {
		fmt.Fprintf(stderr, "bot console: %v\n", err)
		return 1
	}
	return 0
}

// defaultReports is where the console shares files when -reports is not
// given: reports/ next to the SQLite store (in the working directory with
// PostgreSQL).
func defaultReports(cfg config.Config) string {
	if cfg.DatabaseURL != "" || cfg.StorePath == "" {
		return "reports"
	}
	return filepath.Join(filepath.Dir(cfg.StorePath), "reports")
}

// consoleRun is one console session.
type consoleRun struct {
	cfg         config.Config
	in          io.Reader
	out, stderr io.Writer
	as          string
	script      bool
	opts        app.Options // Env and executor tuning (the demo sets them)
	// uploads is where shared files (reports, charts) are written.
	uploads string
}

func runConsole(ctx context.Context, c consoleRun) (err error) {
	red := &secret.Redactor{}
	log := app.NewLogger(c.cfg, c.stderr, red)
	poster := console.NewPoster(c.out)
	poster.SetUploadDir(c.uploads)
	o := c.opts
	o.Config, o.Poster, o.Logger, o.Redactor = c.cfg, poster, log, red
	o.Directory = &console.StaticDirectory{Groups: c.cfg.Groups}
	a, err := app.New(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err = errors.Join(err, a.Close(cctx))
	}()
	if err := a.Start(ctx); err != nil {
		return err
	}
	return console.Run(ctx, console.Options{In: c.in, Out: c.out, As: c.as, Handler: a.Handler, Poster: poster,
		Runs: a.Handler, Script: c.script, ApproveEmoji: c.cfg.ApproveEmoji, RejectEmoji: c.cfg.RejectEmoji,
		Settle: a.Notify.Flush})
}
