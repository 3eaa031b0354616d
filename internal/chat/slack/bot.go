package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// ErrAuth is wrapped by Run's error when Slack refuses a token (wrong,
// revoked, or the workspace is inactive): retrying will not help.
var ErrAuth = errors.New("slack refused the token")

// authErrors are the Slack error codes that end the bot.
var authErrors = map[string]bool{
	"invalid_auth": true, "token_revoked": true, "account_inactive": true, "not_authed": true,
	"token_expired": true,
}

// Bot is a running Slack adapter: a socket-mode connection feeding a
// chat.Handler through a bounded worker pool.
type Bot struct {
	cfg    Config
	h      chat.Handler
	log    *slog.Logger
	api    *slack.Client
	sm     *socketmode.Client
	poster *Poster
	dir    *Directory
	dedupe *ttlSet
	jobs   chan job
	// order keeps one person's reactions on one message in socket order.
	order   *turns
	workers sync.WaitGroup
	// fatal receives the error code when Slack refuses the bot token.
	fatal chan string
	// obs is told of the socket's state and of each ack (metrics, /readyz).
	obs       Observer
	connected atomic.Bool

	mu      sync.Mutex
	started bool
	// botUser is the bot's own user ID (auth.test); lastAuthTest bounds
	// how often it is asked again while unknown.
	botUser      string
	lastAuthTest time.Time
}

// New builds a Bot from a Config (see ConfigFromEnv). It makes no network
// calls; Run connects. h may be nil when the handler needs the Bot's Poster
// and Directory first: then call SetHandler before Run. log is used as
// given (pass a child logger, e.g. log.With("component", "slack")).
func New(cfg Config, h chat.Handler, log *slog.Logger) (*Bot, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpc := &http.Client{
		// A backstop: every call also has its own context deadline.
		Timeout: cfg.CallTimeout + 5*time.Second,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	api := slack.New(cfg.BotToken.Reveal(),
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionAppLevelToken(cfg.AppToken.Reveal()),
		slack.OptionHTTPClient(httpc))
	sm := socketmode.New(api,
		socketmode.OptionPingInterval(cfg.PingInterval),
		socketmode.OptionDialer(&websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: 15 * time.Second,
			NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			WriteBufferSize:  32 * 1024,
		}))
	b := &Bot{
		cfg:    cfg,
		h:      h,
		log:    log,
		api:    api,
		sm:     sm,
		dedupe: newTTLSet(cfg.DedupeTTL, cfg.DedupeSize, time.Now),
		jobs:   make(chan job, cfg.QueueSize),
		order:  newTurns(),
		fatal:  make(chan string, 1),
	}
	b.poster = newPoster(api, httpc, cfg, log)
	b.poster.onAuthError = func(code string) {
		select {
		case b.fatal <- code:
		default:
		}
	}
	b.dir = newDirectory(api, cfg, log, b.poster.call)
	return b, nil
}

// Observer is told of the socket-mode connection's state and of every
// envelope ack (the bot's metrics and readiness implement it).
type Observer interface {
	// SocketConnected is called when the socket opens (true) or is lost
	// (false: it is being reopened).
	SocketConnected(up bool)
	// Acked is called after each ack, with the envelope's type and the
	// time from its arrival to the ack.
	Acked(envelopeType string, latency time.Duration, err error)
}

// SetObserver sets the Observer; call it before Run.
func (b *Bot) SetObserver(o Observer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.obs = o
}

// Connected reports whether the socket-mode connection is open now.
func (b *Bot) Connected() bool { return b.connected.Load() }

// setConnected records the socket's state and tells the Observer of a
// change.
func (b *Bot) setConnected(up bool) {
	if b.connected.Swap(up) == up {
		return
	}
	b.mu.Lock()
	o := b.obs
	b.mu.Unlock()
	if o != nil {
		o.SocketConnected(up)
	}
}

// SetHandler sets the handler that serves events; call it before Run.
func (b *Bot) SetHandler(h chat.Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.h = h
}

// Poster posts and edits messages (for the card notifier and commands).
func (b *Bot) Poster() *Poster { return b.poster }

// Directory looks up users and user-group members.
func (b *Bot) Directory() *Directory { return b.dir }

// Run connects and serves until ctx ends (then drains in-flight work and
// queued card updates and returns nil) or Slack refuses a token (an error
// wrapping ErrAuth). Run may be called once.
func (b *Bot) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("slack: Run called twice")
	}
	b.started = true
	h := b.h
	b.mu.Unlock()
	if h == nil {
		return errors.New("slack: no chat.Handler: pass one to New or call SetHandler before Run")
	}

	if err := b.checkBotToken(ctx); errors.Is(err, ErrAuth) {
		return err
	} else if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// Slack unreachable: socket mode keeps trying to connect.
		b.log.Warn("slack bot token not checked; continuing", "err", err)
	}
	for range b.cfg.Workers {
		b.workers.Go(b.work)
	}
	smCtx, stopSM := context.WithCancel(ctx)
	defer stopSM()
	smDone := make(chan error, 1)
	go func() { smDone <- b.sm.RunContext(smCtx) }()

	var runErr error
loop:
	for {
		select {
		case evt := <-b.sm.Events:
			b.dispatch(ctx, evt)
		case err := <-smDone:
			if ctx.Err() == nil {
				runErr = b.connectError(err)
			}
			break loop
		case code := <-b.fatal:
			runErr = fmt.Errorf("slack: the bot token (%s) was refused: %s: %w", EnvBotToken, code, ErrAuth)
			b.log.Error("slack refused the bot token; stopping", "error", code)
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	stopSM()
	b.setConnected(false)
	b.shutdown()
	return runErr
}

// checkBotToken calls auth.test so that a wrong bot token fails at start
// with a clear message instead of at the first post. Other failures (Slack
// unreachable) are returned without ErrAuth.
func (b *Bot) checkBotToken(ctx context.Context) error {
	var resp *slack.AuthTestResponse
	err := b.poster.call(ctx, "auth.test", func(ctx context.Context) error {
		var err error
		resp, err = b.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok && authErrors[se.Err] {
			return fmt.Errorf("slack: the bot token (%s) was refused: %s: %w", EnvBotToken, se.Err, ErrAuth)
		}
		return fmt.Errorf("slack: check bot token: %w", err)
	}
	b.mu.Lock()
	b.botUser = resp.UserID
	b.mu.Unlock()
	b.log.Info("slack bot token accepted", "bot_user", resp.UserID, "team", resp.Team)
	return nil
}

// knownSelf is the bot's own user ID if auth.test told it ("" if not yet).
func (b *Bot) knownSelf() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.botUser
}

// selfID is the bot's own user ID, asking auth.test again (at most every
// authTestEvery) when it failed at start; "" while Slack does not say.
func (b *Bot) selfID(ctx context.Context) string {
	b.mu.Lock()
	if b.botUser != "" || time.Since(b.lastAuthTest) < authTestEvery {
		defer b.mu.Unlock()
		return b.botUser
	}
	b.lastAuthTest = time.Now()
	b.mu.Unlock()
	if err := b.checkBotToken(ctx); err != nil {
		b.log.Warn("slack: the bot's own user is still unknown (auth.test failed)", "err", err)
	}
	return b.knownSelf()
}

// authTestEvery bounds the auth.test calls made while the bot's own user
// is unknown.
const authTestEvery = 30 * time.Second

// connectError explains why socket mode stopped.
func (b *Bot) connectError(err error) error {
	if err == nil {
		return errors.New("slack: socket mode stopped")
	}
	if authErrors[err.Error()] {
		return fmt.Errorf("slack: the app-level token (%s) was refused: %s: %w", EnvAppToken, err.Error(), ErrAuth)
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok && authErrors[se.Err] {
		return fmt.Errorf("slack: the app-level token (%s) was refused: %s: %w", EnvAppToken, se.Err, ErrAuth)
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok && sc.Code == http.StatusNotFound {
		return fmt.Errorf("slack: apps.connections.open not found at %s (check %s): %w", b.cfg.APIURL, EnvAPIURL, err)
	}
	return fmt.Errorf("slack: socket mode stopped: %w", err)
}

// shutdown drains the queue and the workers, then the queued updates,
// within ShutdownTimeout.
func (b *Bot) shutdown() {
	close(b.jobs)
	done := make(chan struct{})
	go func() { b.workers.Wait(); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		b.log.Error("slack: shutdown timed out with work still running", "timeout", b.cfg.ShutdownTimeout)
	}
	// The Web API outlives the socket: later updates (a card notifier's
	// last edits) are still sent; here we wait for those already queued.
	if err := b.poster.Flush(ctx); err != nil {
		b.log.Error("slack: shutdown timed out with card updates still queued", "err", err)
	}
	b.log.Info("slack bot stopped")
}

// dispatch handles one socket-mode event. It never blocks on the handler:
// envelopes are acked first, then queued for the worker pool.
func (b *Bot) dispatch(ctx context.Context, evt socketmode.Event) {
	if evt.Request != nil {
		ctx = context.WithValue(ctx, arrivedKey{}, time.Now())
	}
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.setConnected(false)
		b.log.Debug("slack connecting")
	case socketmode.EventTypeConnected:
		b.setConnected(true)
		b.log.Info("slack socket connected")
	case socketmode.EventTypeHello:
		b.log.Debug("slack hello")
	case socketmode.EventTypeConnectionError:
		b.setConnected(false)
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			b.log.Warn("slack connection failed; retrying", "attempt", ce.Attempt, "backoff", ce.Backoff, "err", ce.ErrorObj)
		}
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("slack apps.connections.open answered 404; check SLACK_API_URL")
	case socketmode.EventTypeIncomingError:
		if ie, ok := evt.Data.(*slack.IncomingEventError); ok {
			// slack-go skips a frame that is not JSON and keeps the
			// socket; any other read error ends the socket, and it
			// reconnects (EventTypeConnecting follows).
			_, syntax := errors.AsType[*json.SyntaxError](ie.ErrorObj)
			_, typ := errors.AsType[*json.UnmarshalTypeError](ie.ErrorObj)
			if syntax || typ {
				b.log.Warn("slack sent a frame that is not JSON; skipped, the connection stays open", "err", ie.ErrorObj)
			} else {
				b.setConnected(false)
				b.log.Warn("slack socket read failed; the connection is reopened", "err", ie.ErrorObj)
			}
		}
	case socketmode.EventTypeDisconnect:
		b.setConnected(false)
		b.log.Info("slack asked the bot to reconnect")
	case socketmode.EventTypeErrorWriteFailed:
		if we, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok {
			b.log.Warn("slack ack write failed", "envelope", we.Response.EnvelopeID, "err", we.Cause)
		}
	case socketmode.EventTypeErrorBadMessage:
		b.badMessage(ctx, evt)
	case socketmode.EventTypeSlashCommand:
		cmd, _ := evt.Data.(slack.SlashCommand)
		b.ack(ctx, evt.Request)
		b.enqueue(job{kind: "command", command: &cmd})
	case socketmode.EventTypeEventsAPI:
		b.eventsAPI(ctx, evt)
	case socketmode.EventTypeInteractive:
		cb, _ := evt.Data.(slack.InteractionCallback)
		b.ack(ctx, evt.Request)
		if cb.Type == slack.InteractionTypeBlockActions {
			b.enqueue(job{kind: "action", interaction: &cb})
		}
	default:
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			b.ack(ctx, evt.Request)
		}
	}
}

// ack acknowledges an envelope. SendCtx only queues the ack for the
// socket writer, so this is quick; the deadline guards a dead socket.
func (b *Bot) ack(ctx context.Context, req *socketmode.Request) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	arrived, _ := ctx.Value(arrivedKey{}).(time.Time)
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := b.sm.AckCtx(ctx, req.EnvelopeID, nil)
	if err != nil {
		b.log.Warn("slack ack failed", "envelope", req.EnvelopeID, "err", err)
	}
	b.mu.Lock()
	o := b.obs
	b.mu.Unlock()
	if o != nil && !arrived.IsZero() {
		o.Acked(req.Type, time.Since(arrived), err)
	}
}

// arrivedKey is the context key of an envelope's arrival time.
type arrivedKey struct{}

// badMessage acks an envelope slack-go could not parse (e.g. an inner
// event type it does not know) so that Slack does not redeliver it.
func (b *Bot) badMessage(ctx context.Context, evt socketmode.Event) {
	bm, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	var req socketmode.Request
	if err := json.Unmarshal(bm.Message, &req); err != nil || req.EnvelopeID == "" {
		b.log.Warn("slack sent an unreadable message", "err", bm.Cause)
		return
	}
	b.ack(ctx, &req)
	b.log.Debug("slack envelope of an unsupported type acked and ignored", "type", req.Type, "err", bm.Cause)
}

// eventsAPI acks an events envelope and queues its reaction. Only when the
// work queue is full is the envelope left unacked (and its event_id
// forgotten), so that Slack redelivers it later instead of it being lost.
func (b *Bot) eventsAPI(ctx context.Context, evt socketmode.Event) {
	ack := true
	defer func() {
		if ack {
			b.ack(ctx, evt.Request)
		}
	}()
	ev, _ := evt.Data.(slackevents.EventsAPIEvent)
	eventID := ""
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID = cb.EventID
	}
	if eventID != "" && !b.dedupe.Add(eventID) {
		retry := 0
		if evt.Request != nil {
			retry = evt.Request.RetryAttempt
		}
		b.log.Info("slack event redelivered; ignored", "event_id", eventID, "retry_attempt", retry)
		return
	}
	var r chat.Reaction
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.ReactionAddedEvent:
		r = chat.Reaction{EventID: eventID, User: chat.User{ID: e.User}, Emoji: e.Reaction, Added: true,
			Message: chat.MessageRef{Channel: e.Item.Channel, TS: e.Item.Timestamp}}
		if e.Item.Type != "message" {
			return
		}
	case *slackevents.ReactionRemovedEvent:
		r = chat.Reaction{EventID: eventID, User: chat.User{ID: e.User}, Emoji: e.Reaction, Added: false,
			Message: chat.MessageRef{Channel: e.Item.Channel, TS: e.Item.Timestamp}}
		if e.Item.Type != "message" {
			return
		}
	default:
		b.log.Debug("slack event ignored", "type", ev.InnerEvent.Type)
		return
	}
	if self := b.knownSelf(); self != "" && r.User.ID == self {
		b.log.Debug("slack: the bot's own reaction ignored", "emoji", r.Emoji)
		return
	}
	key := r.Message.Channel + "/" + r.Message.TS + "/" + r.User.ID
	ticket := b.order.issue(key)
	if !b.tryEnqueue(job{kind: "reaction", reaction: &r, turnKey: key, ticket: ticket}) {
		b.order.done(key, ticket)
		ack = false
		b.dedupe.Remove(eventID)
		b.log.Error("slack work queue full; event left unacked for Slack to redeliver", "event_id", eventID, "queue", cap(b.jobs))
	}
}
