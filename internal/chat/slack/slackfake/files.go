package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// File uploads as Slack does them since files.upload was retired:
// files.getUploadURLExternal reserves a file and returns an upload URL, the
// bytes are POSTed there, files.completeUploadExternal shares it.

// maxFileSize is Slack's limit on one file (1 GB).
const maxFileSize = 1 << 30

// File is an uploaded file as a test checks it.
type File struct {
	ID       string
	Filename string
	// Length is the length declared to files.getUploadURLExternal.
	Length  int
	Content []byte
	// Uploaded says the bytes arrived; Completed that
	// files.completeUploadExternal shared (or kept) it.
	Uploaded, Completed bool
	Title               string
	AltText             string
	SnippetType         string
	// Channel is channel_id; Channels the comma-separated channels.
	Channel        string
	Channels       []string
	ThreadTS       string
	InitialComment string
}

// Files returns the files reserved so far, in order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		out = append(out, s.files[id].clone())
	}
	return out
}

// File returns a file by ID.
func (s *Server) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	if !ok {
		return File{}, false
	}
	return f.clone(), true
}

func (f *File) clone() File {
	c := *f
	c.Content = append([]byte(nil), f.Content...)
	c.Channels = append([]string(nil), f.Channels...)
	return c
}

func (s *Server) getUploadURL(f url.Values) map[string]any {
	name := f.Get("filename")
	n, err := strconv.Atoi(f.Get("length"))
	if name == "" || f.Get("length") == "" || err != nil {
		return map[string]any{"ok": false, "error": "invalid_arguments"}
	}
	if n <= 0 || n > maxFileSize {
		return map[string]any{"ok": false, "error": "invalid_length"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("F%08d", s.seq)
	s.files[id] = &File{ID: id, Filename: name, Length: n, AltText: f.Get("alt_txt"), SnippetType: f.Get("snippet_type")}
	s.fileOrder = append(s.fileOrder, id)
	return map[string]any{"ok": true, "upload_url": s.srv.URL + "/upload/v1/" + id, "file_id": id}
}

// upload receives the bytes of a reserved file, as multipart (field
// "file", what slack-go sends) or as the raw body. It answers as Slack's
// upload host does: 200 "OK - <length>", or a bare HTTP error.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: "upload", At: time.Now(), Form: url.Values{"file_id": {id}}})
	failure := s.takeFailure("upload")
	f := s.files[id]
	want := 0
	if f != nil {
		want = f.Length
	}
	done := f != nil && f.Uploaded
	s.mu.Unlock()
	switch {
	case failure != nil:
		failure.write(w)
		return
	case f == nil:
		http.Error(w, "not found", http.StatusNotFound)
		return
	case done:
		http.Error(w, "upload URL already used", http.StatusBadRequest)
		return
	}
	body, err := readUpload(r, want)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) != want {
		http.Error(w, fmt.Sprintf("got %d bytes, length was declared as %d", len(body), want), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f.Content, f.Uploaded = body, true
	s.mu.Unlock()
	fmt.Fprintf(w, "OK - %d", len(body))
}

// readUpload returns the file's bytes, reading at most limit+1 of them.
func readUpload(r *http.Request, limit int) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, fmt.Errorf("no file part in the upload")
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return io.ReadAll(io.LimitReader(p, int64(limit)+1))
		}
	}
}

func (s *Server) completeUpload(f url.Values) map[string]any {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(f.Get("files")), &files); err != nil || len(files) == 0 {
		return map[string]any{"ok": false, "error": "invalid_arguments"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := f.Get("channel_id")
	var chans []string
	if v := f.Get("channels"); v != "" {
		chans = strings.Split(v, ",")
	}
	if ch != "" {
		ch = s.channelIDLocked(ch)
	}
	for i, c := range chans {
		chans[i] = s.channelIDLocked(strings.TrimSpace(c))
	}
	for _, c := range append([]string{ch}, chans...) {
		if c != "" && s.outsiders[c] {
			return map[string]any{"ok": false, "error": "not_in_channel"}
		}
	}
	ts := f.Get("thread_ts")
	if ts != "" {
		if ch == "" && len(chans) != 1 {
			return map[string]any{"ok": false, "error": "invalid_arguments"}
		}
		tch := ch
		if tch == "" {
			tch = chans[0]
		}
		if _, ok := s.messages[tch+"/"+ts]; !ok {
			return map[string]any{"ok": false, "error": "thread_not_found"}
		}
	}
	for _, fs := range files {
		file, ok := s.files[fs.ID]
		if !ok || !file.Uploaded {
			return map[string]any{"ok": false, "error": "file_not_found"}
		}
		if file.Completed {
			return map[string]any{"ok": false, "error": "file_upload_already_completed"}
		}
	}
	var out []map[string]string
	for _, fs := range files {
		file := s.files[fs.ID]
		title := fs.Title
		if title == "" {
			title = file.Filename
		}
		file.Completed, file.Title = true, title
		file.Channel, file.Channels, file.ThreadTS = ch, chans, ts
		file.InitialComment = f.Get("initial_comment")
		out = append(out, map[string]string{"id": file.ID, "title": title})
	}
	return map[string]any{"ok": true, "files": out}
}
