// Package commands implements the `/failover` grammar for every chat
// transport: it parses commands, checks who may do what, runs assessments
// and plans, creates runs, counts two-person approvals (reactions and
// buttons) and drives the executor. It implements chat.Handler.
//
// Audit events it records (store.AuditEvent.Type; Data in brackets); the
// executor records the run's own lifecycle (run.requested [runbook,
// planHash, params, reason, plan], approval.requested [channel, ts],
// run.approved [approvers], run.rejected, run.expired, run.cancelled,
// run.start_failed, and what follows the start):
//
//	approval.granted     an approval counted [via, event, planHash]
//	approval.refused     an approval or rejection was refused [reason: already_decided,
//	                     expired, bot, self_approval, not_approver, stale_plan,
//	                     already_approved, no_runbook, directory_error, wrong_message;
//	                     decision, via, event]
//	approval.rejected    an approver rejected [via, event]
//	approval.withdrawn   a removed reaction withdrew an approval [via, event]
//	run.refused          start refused before creating a run (missing secrets)
//	command.refused      a non-responder used a responder verb or button
//	command.failed       the executor refused a run control
package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Access lists who may do something: members of Groups, or Users (IDs or names).
type Access struct {
	Groups []string
	Users  []string
}

// Options configures a Handler. Catalog, Planner, Executor, Store,
// Directory and Poster are required.
type Options struct {
	Catalog   Catalog
	Planner   Planner
	Executor  Executor
	Store     store.Store
	Directory Directory
	Poster    chat.Poster
	// Cards, if set, posts the progress card before a run starts.
	Cards CardOpener
	// Responders may start runs and use the run controls.
	Responders Access
	// ApproveEmoji and RejectEmoji default to white_check_mark and x.
	ApproveEmoji string
	RejectEmoji  string
	// Secrets, if set, resolves the runbook's ${secret:…} references at
	// start, so that a missing secret is reported before approval.
	Secrets *secret.Resolver
	// Scrub removes secret values from text before it is shown or
	// audited (secret.Redactor.Scrub); nil means none.
	Scrub  func(string) string
	Logger *slog.Logger
	// Now is replaced by tests.
	Now func() time.Time
}

// Handler implements chat.Handler.
type Handler struct {
	o   Options
	log *slog.Logger
	// mu serialises approval decisions, so that two approvals arriving at
	// once start a run once.
	mu sync.Mutex
}

var _ chat.Handler = (*Handler)(nil)

// New checks the options, fills defaults and returns a Handler.
func New(o Options) (*Handler, error) {
	var errs []error
	if o.Catalog == nil {
		errs = append(errs, errors.New("commands: Catalog is required"))
	}
	if o.Planner == nil {
		errs = append(errs, errors.New("commands: Planner is required"))
	}
	if o.Executor == nil {
		errs = append(errs, errors.New("commands: Executor is required"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("commands: Store is required"))
	}
	if o.Directory == nil {
		errs = append(errs, errors.New("commands: Directory is required"))
	}
	if o.Poster == nil {
		errs = append(errs, errors.New("commands: Poster is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.ApproveEmoji == "" {
		o.ApproveEmoji = "white_check_mark"
	}
	if o.RejectEmoji == "" {
		o.RejectEmoji = "x"
	}
	if o.Scrub == nil {
		o.Scrub = func(s string) string { return s }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o, log: o.Logger}, nil
}

// HandleCommand parses and executes one `/failover` command.
func (h *Handler) HandleCommand(ctx context.Context, req chat.Request, out chat.Responder) {
	log := h.log.With("user", req.User.ID, "text", h.o.Scrub(req.Text))
	cmd, err := Parse(req.Text)
	if err != nil {
		h.fail(ctx, out, err.Error())
		return
	}
	if spec, _ := specOf(cmd.Verb); spec.responder {
		ok, err := h.isResponder(ctx, req.User)
		if err != nil {
			log.ErrorContext(ctx, "check responder", h.errAttr(err))
			h.fail(ctx, out, "Could not check whether you are a responder: "+h.o.Scrub(err.Error()))
			return
		}
		if !ok {
			h.audit(ctx, runArg(cmd), req.User.ID, "command.refused", "not a responder: "+req.Text, nil)
			h.fail(ctx, out, fmt.Sprintf("Only responders may use `%s` (%s).", cmd.Verb, h.describeAccess(h.o.Responders)))
			return
		}
	}
	switch cmd.Verb {
	case VerbHelp:
		_ = out.Ephemeral(ctx, chat.Message{Text: HelpText()})
	case VerbList:
		h.list(ctx, out)
	case VerbAssess:
		h.assess(ctx, cmd, out)
	case VerbPlan:
		h.plan(ctx, req, cmd, out)
	case VerbStart:
		h.start(ctx, req, cmd, out)
	case VerbStatus:
		h.status(ctx, cmd, out)
	case VerbPause, VerbResume, VerbAbort, VerbRetry, VerbSkip:
		h.control(ctx, req.User, cmd, out)
	case VerbHistory:
		h.history(ctx, out)
	case VerbReport:
		h.report(ctx, req, cmd, out)
	}
}

func runArg(c *Command) string {
	switch c.Verb {
	case VerbPause, VerbResume, VerbAbort, VerbRetry, VerbSkip:
		return c.Args[0]
	}
	return ""
}

// fail answers the requester only, marked as an error.
func (h *Handler) fail(ctx context.Context, out chat.Responder, text string) {
	if err := out.Ephemeral(ctx, chat.Message{Text: text, Error: true}); err != nil {
		h.log.WarnContext(ctx, "ephemeral reply", h.errAttr(err))
	}
}

func (h *Handler) respond(ctx context.Context, out chat.Responder, m chat.Message) {
	if err := out.Respond(ctx, m); err != nil {
		h.log.WarnContext(ctx, "reply", h.errAttr(err))
	}
}

// audit appends to the audit trail; a failure is logged (the action it
// records has already happened).
func (h *Handler) audit(ctx context.Context, runID, actor, typ, msg string, data map[string]string) {
	e := &store.AuditEvent{RunID: runID, At: h.o.Now(), Actor: actor, Type: typ, Message: h.o.Scrub(msg)}
	if len(data) > 0 {
		e.Data = make(map[string]string, len(data))
		for k, v := range data {
			e.Data[k] = h.o.Scrub(v)
		}
	}
	if err := h.o.Store.Append(ctx, e); err != nil {
		h.log.ErrorContext(ctx, "append audit event", "type", typ, "run", runID, h.errAttr(err))
	}
}

// isResponder reports whether u may start runs and control them.
func (h *Handler) isResponder(ctx context.Context, u chat.User) (bool, error) {
	if u.IsBot {
		return false, nil
	}
	return h.allowed(ctx, h.o.Responders, u)
}

// allowed reports whether u is one of a.Users or a member of a.Groups.
func (h *Handler) allowed(ctx context.Context, a Access, u chat.User) (bool, error) {
	if slices.Contains(a.Users, u.ID) || (u.Name != "" && slices.Contains(a.Users, u.Name)) {
		return true, nil
	}
	for _, g := range a.Groups {
		members, err := h.o.Directory.Members(ctx, g)
		if err != nil {
			return false, fmt.Errorf("members of group %s: %w", g, err)
		}
		if slices.Contains(members, u.ID) || (u.Name != "" && slices.Contains(members, u.Name)) {
			return true, nil
		}
	}
	return false, nil
}

func (h *Handler) describeAccess(a Access) string {
	var parts []string
	for _, g := range a.Groups {
		parts = append(parts, "group "+g)
	}
	for _, u := range a.Users {
		parts = append(parts, "user "+u)
	}
	if len(parts) == 0 {
		return "nobody is configured"
	}
	return joinOr(parts)
}

func joinOr(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return fmt.Sprintf("%s or %s", joinComma(parts[:len(parts)-1]), parts[len(parts)-1])
}

func joinComma(parts []string) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s
}

// errAttr logs an error scrubbed of secrets.
func (h *Handler) errAttr(err error) slog.Attr {
	return slog.String("err", h.o.Scrub(err.Error()))
}
