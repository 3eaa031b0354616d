package chat

import "context"

// File is a document or picture the bot shares in a chat: a run's report
// as Markdown, its timeline chart as a PNG.
type File struct {
	// Name is the file's name ("r1-report.md"); it says its type.
	Name string
	// Title is what the chat shows above it ("" for Name).
	Title string
	Data  []byte
	// Comment is posted with the file (plain text; adapters escape it).
	Comment string
}

// Uploader shares files. Implemented by the adapters that can (Slack's
// upload flow; the console writes them under a directory); nothing above
// the adapters knows how.
type Uploader interface {
	// Upload shares f in the thread of thread, or in thread.Channel itself
	// when thread.TS is empty.
	Upload(ctx context.Context, thread MessageRef, f File) error
}
