// Package health serves the bot's operations endpoints: /healthz (the
// process is up and serving), /readyz (it can do its job: the store
// answers, Slack is connected) and /metrics (handed in by the app), and
// watches the store so that losing it is logged once and shown by /readyz.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Check is one readiness condition: nil when met, else why not.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check.
const CheckTimeout = 2 * time.Second

// Server is the operations HTTP server.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	checks []Check
	log    *slog.Logger
}

// Listen binds addr (":9090", "127.0.0.1:0") and returns a server whose
// /metrics is metrics (nil: 404) and whose /readyz runs checks. log may be
// nil.
func Listen(addr string, metrics http.Handler, log *slog.Logger, checks ...Check) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the operations endpoints on %s: %w", addr, err)
	}
	s := &Server{ln: ln, checks: checks, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx is done, then shuts down within 5s.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("operations endpoints: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("operations endpoints: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readyz runs every check at once; 200 with "name: ok" lines when all
// pass, 503 naming each that failed or did not answer within CheckTimeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
	defer cancel()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(s.checks))
	for i, c := range s.checks {
		go func() { results <- result{i, c.Check(ctx)} }()
	}
	errs := make([]error, len(s.checks))
	for i := range errs {
		errs[i] = fmt.Errorf("no answer within %s", CheckTimeout)
	}
	for range s.checks {
		select {
		case res := <-results:
			errs[res.i] = res.err
			continue
		case <-ctx.Done():
		}
		break
	}
	var b strings.Builder
	ok := true
	for i, c := range s.checks {
		if errs[i] != nil {
			ok = false
			fmt.Fprintf(&b, "%s: %s\n", c.Name, errs[i])
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}
