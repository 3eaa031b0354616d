package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// job is one piece of acked work for the pool.
type job struct {
	kind        string // command, reaction, action
	command     *slack.SlashCommand
	reaction    *chat.Reaction
	interaction *slack.InteractionCallback
	queued      time.Time
	// turnKey and ticket order the reactions of one person on one
	// message (see turns).
	turnKey string
	ticket  uint64
}

// enqueue hands j to the pool without blocking the socket loop. When the
// queue is full the command or button press is refused and the user told.
func (b *Bot) enqueue(j job) {
	if b.tryEnqueue(j) {
		return
	}
	b.log.Error("slack work queue full; event dropped", "kind", j.kind, "queue", cap(b.jobs))
	var channel, user string
	switch {
	case j.command != nil:
		channel, user = j.command.ChannelID, j.command.UserID
	case j.interaction != nil:
		channel, user = j.interaction.Container.ChannelID, j.interaction.User.ID
	default:
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.CallTimeout)
		defer cancel()
		_ = b.poster.Ephemeral(ctx, channel, user,
			chat.Message{Text: "The bot is overloaded right now and did not act on this; please try again in a minute."})
	}()
}

// tryEnqueue queues j unless the queue is full.
func (b *Bot) tryEnqueue(j job) bool {
	j.queued = time.Now()
	select {
	case b.jobs <- j:
		return true
	default:
		return false
	}
}

// work runs jobs until the queue is closed and empty. Handlers get a
// context that outlives Run's (so that in-flight work finishes during
// shutdown), bounded by JobTimeout.
func (b *Bot) work() {
	for j := range b.jobs {
		b.run(j)
	}
}

func (b *Bot) run(j job) {
	if j.turnKey != "" {
		b.order.wait(j.turnKey, j.ticket)
		defer b.order.done(j.turnKey, j.ticket)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), b.cfg.JobTimeout,
		fmt.Errorf("slack: %s handler took longer than %s", j.kind, b.cfg.JobTimeout))
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("slack handler panicked", "kind", j.kind, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			b.reportPanic(j)
		}
	}()
	switch j.kind {
	case "command":
		c := j.command
		u := b.dir.lookup(ctx, c.UserID, c.UserName)
		req := chat.Request{User: u, Channel: c.ChannelID, Text: c.Text}
		b.h.HandleCommand(ctx, req, &responder{p: b.poster, channel: c.ChannelID, user: c.UserID,
			responseURL: b.responseURL(c.ResponseURL)})
	case "reaction":
		r := *j.reaction
		// Checked here again for a bot that did not know itself when the
		// event arrived (auth.test failed at start).
		if self := b.selfID(ctx); self != "" && r.User.ID == self {
			b.log.Debug("slack: the bot's own reaction ignored", "emoji", r.Emoji)
			return
		}
		r.User = b.dir.lookup(ctx, r.User.ID, "")
		b.h.HandleReaction(ctx, r)
	case "action":
		cb := j.interaction
		channel := cb.Container.ChannelID
		if channel == "" {
			channel = cb.Channel.ID
		}
		ts := cb.Container.MessageTs
		if ts == "" {
			ts = cb.Message.Timestamp
		}
		u := b.dir.lookup(ctx, cb.User.ID, cb.User.Name)
		for _, a := range cb.ActionCallback.BlockActions {
			b.h.HandleAction(ctx, chat.Action{User: u, Message: chat.MessageRef{Channel: channel, TS: ts},
				ActionID: a.ActionID, Value: a.Value})
		}
	}
}

// reportPanic tells the person whose event crashed the handler: in the
// thread of the message they reacted to or clicked, or ephemerally for a
// command.
func (b *Bot) reportPanic(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.CallTimeout)
	defer cancel()
	// The panic value stays out of Slack: it can hold whatever the handler
	// had in hand, secrets included. The log has it.
	msg := chat.Message{Text: fmt.Sprintf(":boom: Internal error while handling this %s. It was logged; the bot is still running.", j.kind)}
	var err error
	switch {
	case j.command != nil:
		err = b.poster.Ephemeral(ctx, j.command.ChannelID, j.command.UserID, msg)
	case j.reaction != nil:
		_, err = b.poster.Reply(ctx, j.reaction.Message, msg)
	case j.interaction != nil:
		ref := chat.MessageRef{Channel: j.interaction.Container.ChannelID, TS: j.interaction.Container.MessageTs}
		_, err = b.poster.Reply(ctx, ref, msg)
	}
	if err != nil {
		b.log.Error("slack: report of a handler panic failed", "err", err)
	}
}

// responder answers a slash command in its channel. When the bot is not a
// member of the channel, it answers through the command's response_url.
type responder struct {
	p           *Poster
	channel     string
	user        string
	responseURL string
}

var _ chat.Responder = (*responder)(nil)

// Respond posts m in the channel of the command.
func (r *responder) Respond(ctx context.Context, m chat.Message) error {
	_, err := r.p.Post(ctx, r.channel, m)
	if notMember(err) && r.responseURL != "" {
		return r.p.webhook(ctx, r.responseURL, "in_channel", m)
	}
	return err
}

// Ephemeral shows m to the person who typed the command.
func (r *responder) Ephemeral(ctx context.Context, m chat.Message) error {
	err := r.p.Ephemeral(ctx, r.channel, r.user, m)
	if notMember(err) && r.responseURL != "" {
		return r.p.webhook(ctx, r.responseURL, "ephemeral", m)
	}
	return err
}

// notMember reports the errors of a channel the bot cannot post in.
func notMember(err error) bool {
	se, ok := errors.AsType[slack.SlackErrorResponse](err)
	return ok && (se.Err == "not_in_channel" || se.Err == "channel_not_found" || se.Err == "is_archived")
}

// responseURL keeps a command's response_url only when it points at Slack
// (or at the configured API host, for proxies and tests).
func (b *Bot) responseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	api, _ := url.Parse(b.cfg.APIURL)
	if (u.Scheme == "https" && u.Host == "hooks.slack.com") || (api != nil && u.Host == api.Host) {
		return raw
	}
	b.log.Warn("slack command has an unexpected response_url; not used", "host", u.Host)
	return ""
}
