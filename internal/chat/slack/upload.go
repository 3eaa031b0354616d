package slack

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

var _ chat.Uploader = (*Poster)(nil)

// Upload shares f in the thread of thread (in thread.Channel when TS is
// empty) with Slack's upload flow — files.getUploadURLExternal, the bytes
// POSTed to the URL it gives, files.completeUploadExternal — which
// slack-go's UploadFileContext makes. The three calls are one attempt under
// the poster's call timeout; rate limits and server errors are retried as
// every call is (a retry reserves a new file: the one of the failed attempt
// was never shared). The comment is escaped like any text.
func (p *Poster) Upload(ctx context.Context, thread chat.MessageRef, f chat.File) error {
	if thread.Channel == "" {
		return fmt.Errorf("slack: upload %s: no channel", f.Name)
	}
	if f.Name == "" || len(f.Data) == 0 {
		return errors.New("slack: upload: a file needs a name and some bytes")
	}
	op := "upload of " + f.Name + " to " + thread.Channel
	if thread.TS != "" {
		op += " (thread " + thread.TS + ")"
	}
	return p.call(ctx, op, func(ctx context.Context) error {
		_, err := p.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: f.Name, FileSize: len(f.Data), Reader: bytes.NewReader(f.Data),
			Title: cmp.Or(f.Title, f.Name), InitialComment: string(esc(f.Comment)),
			Channel: thread.Channel, ThreadTimestamp: thread.TS,
		})
		return err
	})
}
