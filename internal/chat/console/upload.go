package console

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/failoverbot/failoverbot/internal/chat"
)

var _ chat.Uploader = (*Poster)(nil)

// SetUploadDir makes Upload write files under dir (created if missing).
func (p *Poster) SetUploadDir(dir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.uploads = dir
}

// UploadDir is where uploaded files are written ("" when nowhere).
func (p *Poster) UploadDir() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.uploads
}

// Upload writes f under the upload directory (replacing a file of that
// name, atomically) and prints its path in the thread, with f's comment.
// Without an upload directory it prints that the file was not saved: a
// console without one shows what it would have shared and goes on.
func (p *Poster) Upload(ctx context.Context, thread chat.MessageRef, f chat.File) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("console: upload %s: %w", f.Name, err)
	}
	name := filepath.Base(f.Name)
	if f.Name == "" || name != f.Name || name == "." || name == ".." || strings.ContainsAny(f.Name, `/\`) {
		return fmt.Errorf("console: upload: %q is not a plain file name", f.Name)
	}
	where := fmt.Sprintf("[%s] ↳ in thread of message %s:", thread.Channel, thread.TS)
	if thread.TS == "" {
		where = fmt.Sprintf("[%s] file:", thread.Channel)
	}
	dir := p.UploadDir()
	if dir == "" {
		p.print(where, name+" not saved: the console has no upload directory")
		return nil
	}
	path, err := writeFile(dir, name, f.Data)
	if err != nil {
		return fmt.Errorf("console: upload %s: %w", name, err)
	}
	body := fmt.Sprintf("%s saved to %s", name, path)
	if f.Comment != "" {
		body = f.Comment + "\n" + body
	}
	p.print(where, body)
	return nil
}

// writeFile writes data to dir/name through a temporary file and a rename,
// so that a reader never sees half a file; it returns the absolute path.
func writeFile(dir, name string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}
