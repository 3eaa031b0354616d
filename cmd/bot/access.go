package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/failoverbot/failoverbot/internal/access"
	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

// loadForAccess loads the runbooks of files and directories (with the
// configuration's connections overlay) and derives their steps' needs.
func loadForAccess(fs *flag.FlagSet, loadCfg func() (config.Config, error), stderr io.Writer) ([]access.StepNeed, int) {
	cfg, err := loadCfg()
	if err != nil && cfg.RunbookDir == "" {
		fmt.Fprintln(stderr, err)
		return nil, 2
	}
	reg, err := builtin.Registry()
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return nil, 1
	}
	overlay, err := app.LoadOverlay(cfg, reg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1
	}
	files, err := runbookFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "bot %s: %v\n", fs.Name(), err)
		return nil, 1
	}
	var rbs []*runbook.Runbook
	for _, f := range files {
		rb, err := runbook.Load(f, reg, runbook.WithSecrets(app.Resolver(cfg, nil, &secret.Redactor{})), runbook.WithOverlay(overlay))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return nil, 1
		}
		rbs = append(rbs, rb)
	}
	return access.Derive(rbs), 0
}

// cmdRBAC prints the Kubernetes RBAC objects the runbooks' steps need.
func cmdRBAC(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rbac", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	sa := fs.String("service-account", "failover-bot/failover-bot", "the bot's service account, NAMESPACE/NAME")
	name := fs.String("name", "failover-bot", "name of the Roles, ClusterRole and bindings")
	only := fs.String("connection", "", "only the cluster of this connection")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bot rbac [flags] RUNBOOK_FILE|DIR…\n\nPrints the Roles, ClusterRole and bindings the runbooks' Kubernetes steps need, one YAML stream per cluster.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ns, saName, ok := strings.Cut(*sa, "/")
	if fs.NArg() == 0 || !ok || ns == "" || saName == "" {
		fs.Usage()
		return 2
	}
	needs, code := loadForAccess(fs, loadCfg, stderr)
	if code != 0 {
		return code
	}
	clusters := access.Clusters(needs)
	if *only == "" && len(clusters) > 1 {
		// Their objects share names: applied together to one cluster, the
		// later would replace the earlier.
		fmt.Fprintln(stderr, "bot rbac: the runbooks' Kubernetes steps use several clusters; print each with --connection NAME:")
		for _, c := range clusters {
			fmt.Fprintf(stderr, "  connections %s (context %s)\n", strings.Join(c.Connections, ", "), c.Context)
		}
		return 2
	}
	printed := 0
	for _, c := range clusters {
		if *only != "" && !contains(c.Connections, *only) {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(stdout, "---")
		}
		if err := c.WriteYAML(stdout, access.Subject{Name: *name, ServiceAccount: saName, Namespace: ns}); err != nil {
			fmt.Fprintf(stderr, "bot rbac: %v\n", err)
			return 1
		}
		printed++
		for _, u := range c.Uncovered {
			fmt.Fprintf(stderr, "bot rbac: NOT COVERED: %s\n", u)
		}
	}
	if printed == 0 {
		fmt.Fprintln(stderr, "bot rbac: no Kubernetes step in these runbooks"+forConnection(*only))
		return 1
	}
	return 0
}

// cmdIAMPolicy prints the IAM policy the runbooks' AWS steps need.
func cmdIAMPolicy(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("iam-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loadCfg := config.Flags(fs, os.Getenv)
	only := fs.String("connection", "", "only these AWS connections (comma-separated)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bot iam-policy [flags] RUNBOOK_FILE|DIR…\n\nPrints the IAM policy (JSON) the runbooks' AWS steps need; notes on where it is wider go to stderr.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	needs, code := loadForAccess(fs, loadCfg, stderr)
	if code != 0 {
		return code
	}
	var filter []string
	if *only != "" {
		filter = strings.Split(*only, ",")
	}
	p, conns, notes := access.IAMPolicy(needs, filter)
	if len(p.Statement) == 0 {
		fmt.Fprintln(stderr, "bot iam-policy: no AWS step in these runbooks"+forConnection(*only))
		return 1
	}
	fmt.Fprintf(stderr, "# IAM policy of the failover bot for AWS connections %s, generated from the runbooks' steps.\n", strings.Join(conns, ", "))
	for _, n := range notes {
		fmt.Fprintf(stderr, "# Note: %s\n", n)
	}
	for _, u := range access.Uncovered(needs, "aws") {
		fmt.Fprintf(stderr, "# NOT COVERED: %s\n", u)
	}
	if err := p.WriteJSON(stdout); err != nil {
		fmt.Fprintf(stderr, "bot iam-policy: %v\n", err)
		return 1
	}
	return 0
}

func forConnection(c string) string {
	if c == "" {
		return ""
	}
	return " on connection " + c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
