// Package console is the chat interface in a terminal: the same
// `/failover` grammar as Slack, typed (or read from a script) as a named
// user, with approvals simulated as reactions on the plan message and
// every chat view rendered as text.
//
// Lines it reads:
//
//	/failover <verb> [args…] [--as NAME]   a command, as NAME (default: Options.As)
//	/approve RUN [--as NAME]              react ✅ on the run's plan message
//	/reject RUN [--as NAME]               react ❌
//	/unapprove RUN [--as NAME]            remove the ✅ reaction
//	/wait RUN                             block until the run stops (ended or paused)
//	                                      or waits for the approval of a gate
//	/as NAME                              act as NAME from now on
//	# comment, blank lines                ignored
//
// RUN may be "last", the newest run.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Runs answers what the console asks about runs (commands.Handler
// implements it): arg is a run ID or "last", the newest run.
type Runs interface {
	RunStatus(ctx context.Context, arg string) (chat.RunStatus, error)
}

// Options configures Run. In, Out, Handler, Poster and Runs are required.
type Options struct {
	In  io.Reader
	Out io.Writer
	// As is the default user (default oncall-1).
	As string
	// Channel is where commands are typed (default #console).
	Channel string
	// Handler is the commands handler.
	Handler chat.Handler
	// Poster is the console poster the handler and the notifiers post
	// with (failure replies are counted on it).
	Poster *Poster
	Runs   Runs
	// Script: non-interactive; stop at the first failed line and return
	// an error (the exit status of `bot console --script`).
	Script bool
	// ApproveEmoji and RejectEmoji default to white_check_mark and x.
	ApproveEmoji, RejectEmoji string
	// WaitTimeout bounds /wait (default 10m).
	WaitTimeout time.Duration
	// PollInterval is how often /wait reads the run (default 100ms).
	PollInterval time.Duration
	// Settle, if set, is called after /wait saw the run stop, e.g. to let
	// the progress card's last edit land (card.Notifier.Flush).
	Settle func(ctx context.Context, runID string) error
}

// ErrFailed is returned (wrapped) by Run in script mode when a line failed.
var ErrFailed = errors.New("console script failed")

type console struct {
	o      Options
	as     string
	events int
}

// Run reads lines from o.In until EOF (or /quit) and executes them.
func Run(ctx context.Context, o Options) error {
	if o.In == nil || o.Out == nil || o.Handler == nil || o.Poster == nil || o.Runs == nil {
		return errors.New("console: In, Out, Handler, Poster and Runs are required")
	}
	if o.As == "" {
		o.As = "oncall-1"
	}
	if o.Channel == "" {
		o.Channel = "#console"
	}
	if o.ApproveEmoji == "" {
		o.ApproveEmoji = "white_check_mark"
	}
	if o.RejectEmoji == "" {
		o.RejectEmoji = "x"
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 10 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	c := &console{o: o, as: o.As}
	sc := bufio.NewScanner(o.In)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for {
		if !o.Script {
			c.printf("%s> ", c.as)
		}
		if !sc.Scan() {
			break
		}
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "/quit" || line == "/exit" {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		before := o.Poster.Errors()
		err := c.line(ctx, line)
		if err == nil && o.Poster.Errors() > before {
			err = errors.New("the bot answered with an error")
		}
		if err != nil {
			c.printf("! line %d: %v\n", lineNo, err)
			if o.Script {
				return fmt.Errorf("%w: line %d %q: %w", ErrFailed, lineNo, line, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("console: read input: %w", err)
	}
	return nil
}

func (c *console) printf(format string, args ...any) {
	c.o.Poster.mu.Lock()
	defer c.o.Poster.mu.Unlock()
	fmt.Fprintf(c.o.Poster.out, format, args...)
}

// splitAs removes a trailing "--as NAME" (or --as=NAME) from a line.
func splitAs(line string) (rest, as string, err error) {
	f := strings.Fields(line)
	for i, w := range f {
		switch {
		case w == "--as":
			if i != len(f)-2 {
				return "", "", errors.New("--as NAME must end the line")
			}
			return strings.Join(f[:i], " "), f[i+1], nil
		case strings.HasPrefix(w, "--as="):
			if i != len(f)-1 {
				return "", "", errors.New("--as=NAME must end the line")
			}
			return strings.Join(f[:i], " "), strings.TrimPrefix(w, "--as="), nil
		}
	}
	return line, "", nil
}

func (c *console) line(ctx context.Context, line string) error {
	rest, as, err := splitAs(line)
	if err != nil {
		return err
	}
	if as == "" {
		as = c.as
	}
	if c.o.Script {
		c.printf("\n%s> %s\n", as, rest)
	}
	verb, args, _ := strings.Cut(rest, " ")
	args = strings.TrimSpace(args)
	user := chat.User{ID: as, Name: as}
	switch verb {
	case "/failover":
		c.o.Handler.HandleCommand(ctx, chat.Request{User: user, Channel: c.o.Channel, Text: args},
			&responder{p: c.o.Poster, channel: c.o.Channel, user: as})
		return nil
	case "/approve", "/reject", "/unapprove":
		run, err := c.run(ctx, args)
		if err != nil {
			return err
		}
		if run.Approval.TS == "" {
			return fmt.Errorf("run %s has no plan message to react to", run.ID)
		}
		emoji := c.o.ApproveEmoji
		if verb == "/reject" {
			emoji = c.o.RejectEmoji
		}
		c.events++
		c.o.Handler.HandleReaction(ctx, chat.Reaction{
			EventID: fmt.Sprintf("console-%d", c.events), User: user,
			Message: run.Approval, Emoji: emoji, Added: verb != "/unapprove"})
		return nil
	case "/wait":
		run, err := c.run(ctx, args)
		if err != nil {
			return err
		}
		return c.wait(ctx, run.ID)
	case "/as":
		if args == "" || strings.ContainsAny(args, " \t") {
			return errors.New("usage: /as NAME")
		}
		c.as = args
		return nil
	}
	return fmt.Errorf("unknown console command %q: use /failover <verb>, /approve, /reject, /unapprove, /wait, /as (try /failover help)", verb)
}

// run resolves a RUN argument ("last": the newest run).
func (c *console) run(ctx context.Context, arg string) (chat.RunStatus, error) {
	if arg == "" || strings.ContainsAny(arg, " \t") {
		return chat.RunStatus{}, errors.New("expected one run ID (or last)")
	}
	return c.o.Runs.RunStatus(ctx, arg)
}

// wait polls the run until it stops — ended, or paused (a failed step
// pauses it) — or waits for people to approve a gate. It fails when the
// run stopped other than by succeeding.
func (c *console) wait(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeoutCause(ctx, c.o.WaitTimeout, fmt.Errorf("run %s did not stop within %s", id, c.o.WaitTimeout))
	defer cancel()
	t := time.NewTicker(c.o.PollInterval)
	defer t.Stop()
	for {
		r, err := c.o.Runs.RunStatus(ctx, id)
		if err != nil {
			return fmt.Errorf("wait for run %s: %w", id, err)
		}
		if r.AwaitingApproval {
			c.printf("run %s is waiting for approval (%s): /approve %s --as NAME\n", id, r.State, id)
			return nil
		}
		if r.Stopped {
			if c.o.Settle != nil {
				if err := c.o.Settle(ctx, id); err != nil {
					c.printf("(progress card of %s not settled: %v)\n", id, err)
				}
			}
			c.printf("run %s %s", id, r.State)
			if r.Reason != "" {
				c.printf(": %s", r.Reason)
			}
			c.printf("\n")
			if !r.Succeeded {
				return fmt.Errorf("run %s did not succeed: %s", id, r.State)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
