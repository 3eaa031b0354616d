package slack

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

var _ chat.Permalinker = (*Poster)(nil)

// Permalink returns the permalink of a message (chat.getPermalink).
func (p *Poster) Permalink(ctx context.Context, ref chat.MessageRef) (string, error) {
	if ref.Channel == "" || ref.TS == "" {
		return "", fmt.Errorf("slack: chat.getPermalink: incomplete message reference %+v", ref)
	}
	var link string
	err := p.call(ctx, "chat.getPermalink of "+ref.Channel+"/"+ref.TS, func(ctx context.Context) error {
		l, err := p.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ref.Channel, Ts: ref.TS})
		link = l
		return err
	})
	return link, err
}
