package console

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Poster is the console's chat.Poster: it prints every message as text.
// An edited message is printed again only when its text changed. It is
// safe for concurrent use (the progress card is edited from its own
// goroutine).
type Poster struct {
	mu   sync.Mutex
	out  io.Writer
	seq  int
	last map[chat.MessageRef]string
	// errors counts the failure replies shown (Message.Error).
	errors atomic.Int64
	// uploads is where Upload writes files ("": nowhere, see Upload).
	uploads string
}

var _ chat.Poster = (*Poster)(nil)

// NewPoster returns a Poster printing to out.
func NewPoster(out io.Writer) *Poster {
	return &Poster{out: out, last: map[chat.MessageRef]string{}}
}

// Errors is the number of failure replies shown so far.
func (p *Poster) Errors() int64 { return p.errors.Load() }

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func (p *Poster) print(header, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s\n%s\n", header, indent(body, "  "))
}

// Post prints a new message and returns its reference.
func (p *Poster) Post(_ context.Context, channel string, m chat.Message) (chat.MessageRef, error) {
	text := Render(m)
	p.mu.Lock()
	p.seq++
	ref := chat.MessageRef{Channel: channel, TS: strconv.Itoa(p.seq)}
	p.last[ref] = text
	p.mu.Unlock()
	p.print(fmt.Sprintf("[%s] message %s:", channel, ref.TS), text)
	return ref, nil
}

// Update prints the edited message if its text changed.
func (p *Poster) Update(_ context.Context, ref chat.MessageRef, m chat.Message) error {
	text := Render(m)
	p.mu.Lock()
	prev, ok := p.last[ref]
	p.last[ref] = text
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("update %s/%s: no such message", ref.Channel, ref.TS)
	}
	if prev == text {
		return nil
	}
	p.print(fmt.Sprintf("[%s] message %s (edited):", ref.Channel, ref.TS), text)
	return nil
}

// Reply prints a message in the thread of another.
func (p *Poster) Reply(_ context.Context, thread chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	text := Render(m)
	p.mu.Lock()
	p.seq++
	ref := chat.MessageRef{Channel: thread.Channel, TS: strconv.Itoa(p.seq)}
	p.last[ref] = text
	p.mu.Unlock()
	p.print(fmt.Sprintf("[%s] ↳ in thread of message %s:", thread.Channel, thread.TS), text)
	return ref, nil
}

// Ephemeral prints a message shown to one user only.
func (p *Poster) Ephemeral(_ context.Context, channel, userID string, m chat.Message) error {
	if m.Error {
		p.errors.Add(1)
	}
	p.print(fmt.Sprintf("[%s] (only %s sees this):", channel, userID), Render(m))
	return nil
}

// responder answers one console command.
type responder struct {
	p       *Poster
	channel string
	user    string
}

func (r *responder) Respond(_ context.Context, m chat.Message) error {
	if m.Error {
		r.p.errors.Add(1)
	}
	r.p.print(fmt.Sprintf("[%s] bot:", r.channel), Render(m))
	return nil
}

func (r *responder) Ephemeral(ctx context.Context, m chat.Message) error {
	return r.p.Ephemeral(ctx, r.channel, r.user, m)
}
