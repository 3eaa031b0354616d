package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Poster posts and edits messages through the Web API. chat.update calls
// are coalesced per channel (see Update); every call runs under a deadline
// and waits out rate limits.
type Poster struct {
	api     *slack.Client
	httpc   *http.Client
	log     *slog.Logger
	timeout time.Duration
	tries   int
	updates *coalescer
	sleep   func(ctx context.Context, d time.Duration) error
	// onAuthError is told when Slack refuses the bot token.
	onAuthError func(code string)
}

var _ chat.Poster = (*Poster)(nil)

func newPoster(api *slack.Client, httpc *http.Client, cfg Config, log *slog.Logger) *Poster {
	p := &Poster{api: api, httpc: httpc, log: log, timeout: cfg.CallTimeout, tries: cfg.MaxAttempts, sleep: sleepCtx}
	p.updates = newCoalescer(cfg.UpdateInterval, p.update, log)
	return p
}

// Post posts m in channel.
func (p *Poster) Post(ctx context.Context, channel string, m chat.Message) (chat.MessageRef, error) {
	return p.post(ctx, "chat.postMessage", channel, m)
}

// Reply posts m in the thread of the message thread.
func (p *Poster) Reply(ctx context.Context, thread chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	return p.post(ctx, "chat.postMessage (reply)", thread.Channel, m, slack.MsgOptionTS(thread.TS))
}

func (p *Poster) post(ctx context.Context, op, channel string, m chat.Message, opts ...slack.MsgOption) (chat.MessageRef, error) {
	if channel == "" {
		return chat.MessageRef{}, fmt.Errorf("slack: %s: no channel", op)
	}
	// A message longer than one Slack message is posted as several, in
	// order, where the first goes: the first one's reference is returned.
	var first chat.MessageRef
	parts := renderAll(m)
	for i, part := range parts {
		var ref chat.MessageRef
		popts := append(partOptions(part), opts...)
		err := p.call(ctx, op+" in "+channel+partOf(i, len(parts)), func(ctx context.Context) error {
			ch, ts, err := p.api.PostMessageContext(ctx, channel, popts...)
			ref = chat.MessageRef{Channel: ch, TS: ts}
			return err
		})
		if err != nil {
			return first, err
		}
		if i == 0 {
			first = ref
		}
	}
	return first, nil
}

// partOf names part i of n in an operation, when there are several.
func partOf(i, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf(" (part %d of %d)", i+1, n)
}

// Ephemeral shows m to userID only, in channel.
func (p *Poster) Ephemeral(ctx context.Context, channel, userID string, m chat.Message) error {
	parts := renderAll(m)
	for i, part := range parts {
		opts := partOptions(part)
		err := p.call(ctx, "chat.postEphemeral in "+channel+partOf(i, len(parts)), func(ctx context.Context) error {
			_, err := p.api.PostEphemeralContext(ctx, channel, userID, opts...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Update replaces the message ref with m. Updates are coalesced: at most one
// chat.update per UpdateInterval per channel, and when several updates of
// one message wait, only the latest is sent. Update returns once the update
// is queued; a rate-limited update is retried after Retry-After until it
// lands. Flush waits for the queue to empty.
func (p *Poster) Update(_ context.Context, ref chat.MessageRef, m chat.Message) error {
	if ref.Channel == "" || ref.TS == "" {
		return fmt.Errorf("slack: chat.update: incomplete message reference %+v", ref)
	}
	return p.updates.Enqueue(ref, m)
}

// Flush waits until every queued update has been sent (or given up).
func (p *Poster) Flush(ctx context.Context) error { return p.updates.Flush(ctx) }

func (p *Poster) update(ctx context.Context, ref chat.MessageRef, m chat.Message) error {
	parts := renderAll(m)
	if len(parts) > 1 {
		// An edit replaces one message: what does not fit in it is not
		// shown, and the message says so.
		p.log.Warn("slack: an edited message is longer than one message; its first part is shown", "parts", len(parts))
		last := &parts[0]
		if len(last.blocks) == maxBlocks {
			last.blocks = last.blocks[:maxBlocks-1]
		}
		last.blocks = append(last.blocks, section(mdf("_… %d more messages' worth not shown in this edit_", len(parts)-1)))
	}
	opts := partOptions(parts[0])
	return p.call(ctx, "chat.update of "+ref.Channel+"/"+ref.TS, func(ctx context.Context) error {
		_, _, _, err := p.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, opts...)
		return err
	})
}

// webhook answers through a slash command's response_url (responseType
// in_channel or ephemeral), in several answers for a long message.
func (p *Poster) webhook(ctx context.Context, responseURL, responseType string, m chat.Message) error {
	parts := renderAll(m)
	for i, part := range parts {
		msg := &slack.WebhookMessage{Text: part.text, ResponseType: responseType}
		if len(part.blocks) > 0 {
			msg.Blocks = &slack.Blocks{BlockSet: part.blocks}
		}
		err := p.call(ctx, "response_url ("+responseType+")"+partOf(i, len(parts)), func(ctx context.Context) error {
			return slack.PostWebhookCustomHTTPContext(ctx, responseURL, p.httpc, msg)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// partOptions are the options that post one rendered part. The text is
// already escaped (renderAll), so slack-go must not escape it again.
func partOptions(pt part) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(pt.text, false)}
	if len(pt.blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(pt.blocks...))
	}
	return opts
}

// errRateLimited marks an error that is still a rate limit after all
// attempts: the caller may queue the work again.
var errRateLimited = errors.New("rate limited")

// call runs fn, each attempt under its own deadline, retrying rate limits
// (after Retry-After) and transient server errors with backoff.
func (p *Poster) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	backoff := 500 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("slack: %s: %w", op, cerr)
		}
		actx, cancel := context.WithTimeoutCause(ctx, p.timeout, fmt.Errorf("slack: %s took longer than %s", op, p.timeout))
		err = fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok && authErrors[se.Err] && p.onAuthError != nil {
			p.onAuthError(se.Err)
		}
		wait, retry, limited := classify(err, backoff)
		if !retry {
			return fmt.Errorf("slack: %s: %w", op, err)
		}
		if attempt >= p.tries {
			if limited {
				return fmt.Errorf("slack: %s: %w after %d attempts: %w", op, errRateLimited, attempt, err)
			}
			return fmt.Errorf("slack: %s: after %d attempts: %w", op, attempt, err)
		}
		p.log.Debug("slack call retried", "op", op, "attempt", attempt, "wait", wait, "err", err)
		if serr := p.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("slack: %s: waiting to retry: %w (last error: %w)", op, serr, err)
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// classify says whether err is worth retrying and after how long.
func classify(err error, backoff time.Duration) (wait time.Duration, retry, rateLimited bool) {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return max(rl.RetryAfter, 100*time.Millisecond), true, true
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		if sc.Code == http.StatusTooManyRequests {
			return max(backoff, time.Second), true, true
		}
		return backoff, sc.Retryable(), false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return backoff, true, false
	}
	return 0, false, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
