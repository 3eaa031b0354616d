package slack_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"

	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/commands"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/notify/card"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Example wires `bot serve`: the Slack transport's Poster and Directory go
// into the card notifier and the commands handler, which is then set as
// the bot's handler. Run returns nil on SIGINT (after draining) and an
// error wrapping slack.ErrAuth when Slack refuses a token.
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cfg, err := slack.ConfigFromEnv(os.Getenv) // SLACK_APP_TOKEN[_FILE], SLACK_BOT_TOKEN[_FILE], SLACK_API_URL
	if err != nil {
		log.Error("slack config", "err", err)
		return
	}
	bot, err := slack.New(cfg, nil, log)
	if err != nil {
		log.Error("slack", "err", err)
		return
	}
	var st store.Store           // sqlite.Open / postgres.Open
	var cat *commands.DirCatalog // commands.NewDirCatalog(dir, registry, log)
	cards, _ := card.New(card.Options{Poster: bot.Poster(), Store: st, Runbooks: cat.Get, Logger: log})
	exec, _ := executor.New(executor.Config{Store: st, Sink: cards, Owner: "bot-1", Runbooks: cat.Get, Logger: log})
	h, _ := commands.New(commands.Options{Catalog: cat, Planner: exec.Planner(), Executor: exec, Store: st,
		Directory: bot.Directory(), Poster: bot.Poster(), Cards: cards,
		Responders: commands.Access{Groups: []string{"oncall"}}, Logger: log})
	bot.SetHandler(h)
	go func() { _ = cards.Run(ctx) }()
	if err := bot.Run(ctx); errors.Is(err, slack.ErrAuth) {
		log.Error("fix the Slack token", "err", err) // e.g. exit 1
	}
}
