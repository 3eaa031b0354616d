package chat

import "context"

// NoticeView is an announcement the bot composes: Text is the bot's own
// words or a runbook's message template rendered with user input (run
// reasons, step errors), which adapters escape (Slack: &, <, >) before they
// add what only the bot may add: mentions of Groups (Slack user group IDs,
// rendered <!subteam^ID>) and a Link. Lines are extra facts shown under the
// text (elapsed time, the next update), escaped too.
type NoticeView struct {
	Text string
	// Groups are user group IDs to mention (e.g. S0123ABC).
	Groups []string
	// Link points at the run (a permalink of its progress card); when
	// empty, LinkText alone is shown.
	Link, LinkText string
	Lines          []string
	// Warning marks a notice about a failure (an adapter may style it).
	Warning bool
}

// Permalinker is implemented by a Poster that can give a message's
// permalink (Slack's chat.getPermalink).
type Permalinker interface {
	Permalink(ctx context.Context, ref MessageRef) (string, error)
}
