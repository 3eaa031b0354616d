// Command bot is the failover bot: it validates and plans runbooks, runs the
// local lab, and serves the chat interfaces (Slack, console).
//
//	bot validate FILE…        check runbooks; exit 1 with every error
//	bot plan RUNBOOK [k=v…]   dry run: what each step would do
//	bot kinds                 list the step kinds
//	bot rbac RUNBOOK…         the Kubernetes RBAC the runbooks' steps need
//	bot iam-policy RUNBOOK…   the AWS IAM policy the runbooks' steps need
//	bot console [--script F]  the chat interface in a terminal
//	bot serve                 the Slack bot (socket mode)
//	bot report RUN [-o DIR]   a run's report (Markdown) and timeline chart (PNG)
//	bot lab up|down|status    the local two-region lab
//	bot demo                  a real failover of the local lab, end to end
//	bot version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func subcommands() []command {
	return []command{
		{"validate", "check runbooks; exit 1 with every error", cmdValidate},
		{"plan", "dry run of a runbook: what each step would do", cmdPlan},
		{"kinds", "list the step kinds", cmdKinds},
		{"rbac", "print the Kubernetes RBAC the runbooks' steps need", cmdRBAC},
		{"iam-policy", "print the AWS IAM policy the runbooks' steps need", cmdIAMPolicy},
		{"console", "the chat interface in a terminal", cmdConsole},
		{"serve", "the Slack bot (socket mode)", cmdServe},
		{"report", "write a run's report (Markdown) and timeline chart (PNG)", cmdReport},
		{"lab", "the local two-region lab: up, down, status", cmdLab},
		{"demo", "a real failover of the local lab from the console", cmdDemo},
		{"version", "print the version", cmdVersion},
	}
}

// redisLog sends go-redis's own messages (dial failures while a region is
// down) to slog at debug level instead of its global stderr logger.
type redisLog struct{}

func (redisLog) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

func main() {
	redis.SetLogger(redisLog{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range subcommands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "bot: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bot <command> [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'bot <command> -h' for a command's flags.")
}
