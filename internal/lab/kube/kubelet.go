package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Exec runs a command exec'd into a pod's container (kubectl exec), as a
// kubelet's container runtime would. A command that ran and exited
// non-zero returns an error with an ExitCode() int method (an
// *exec.ExitError does); any other error is the runtime failing.
type Exec func(ctx context.Context, c ExecCommand) error

// ExecCommand is one command exec'd into a pod.
type ExecCommand struct {
	// Namespace, Pod and Container name the container.
	Namespace, Pod, Container string
	// Command is the argv.
	Command []string
	// Stdin is nil unless the client sends input.
	Stdin io.Reader
	// Stdout and Stderr are nil unless the client asked for them.
	Stdout, Stderr io.Writer
}

// kubeletFront is a kubelet's endpoint that serves /exec/ itself and
// passes everything else (pod logs, port-forward) to next, KWOK's server
// when it is every node's kubelet endpoint (Options.Exec). KWOK reports
// a command's non-zero exit as an internal error ("cmd wait: exit status
// 1"); a kubelet sends the remotecommand v4 status NonZeroExitCode with
// the code, which a client reads as the command's exit status, and so
// does this.
type kubeletFront struct {
	exec Exec
	next http.Handler
}

// ExecHandler is a kubelet's /exec/{namespace}/{pod}/{container}
// endpoint (remotecommand v4 over SPDY, as the API server speaks to a
// kubelet) that runs the commands with run; other paths are not found.
// A test serves it (TLS) as a node's kubelet endpoint of its own.
func ExecHandler(run Exec) http.Handler {
	return &kubeletFront{exec: run, next: http.NotFoundHandler()}
}

// serveKubeletFront serves the front on ln until the returned server is
// closed; KWOK's server is at kwokAddr, with a certificate of caPEM's CA.
func serveKubeletFront(ln net.Listener, cert tls.Certificate, caPEM []byte, kwokAddr string, run Exec) *http.Server {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: kwokAddr})
	proxy.Transport = &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	srv := &http.Server{
		Handler:           &kubeletFront{exec: run, next: proxy},
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv
}

// ServeHTTP serves /exec/{namespace}/{pod}/{container} and proxies the rest.
func (f *kubeletFront) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/exec/"), "/")
	if !strings.HasPrefix(req.URL.Path, "/exec/") || len(parts) != 3 {
		f.next.ServeHTTP(w, req)
		return
	}
	f.serveExec(w, req, ExecCommand{Namespace: parts[0], Pod: parts[1], Container: parts[2], Command: req.URL.Query()["command"]})
}

// execProtocol is the remotecommand protocol spoken: v4 carries the exit
// code in the status on the error stream.
const execProtocol = "v4.channel.k8s.io"

// serveExec upgrades the request to SPDY, as the kubelet's streaming
// server does, runs the command on the streams the client opened and
// writes its status on the error stream.
func (f *kubeletFront) serveExec(w http.ResponseWriter, req *http.Request, c ExecCommand) {
	q := req.URL.Query()
	if q.Get("tty") == "1" {
		http.Error(w, "the lab's kubelet runs no terminals (tty)", http.StatusBadRequest)
		return
	}
	if len(c.Command) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	if _, err := httpstream.Handshake(req, w, []string{execProtocol}); err != nil {
		return // Handshake wrote the error
	}
	streams := make(chan httpstream.Stream, 4)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, req, func(s httpstream.Stream, _ <-chan struct{}) error {
		streams <- s
		return nil
	})
	if conn == nil {
		return // UpgradeResponse wrote the error
	}
	defer conn.Close()
	want := 1 // the error stream
	for _, p := range []string{"input", "output", "error"} {
		if q.Get(p) == "1" {
			want++
		}
	}
	got := map[string]httpstream.Stream{}
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case s := <-streams:
			got[s.Headers().Get("streamType")] = s
		case <-timeout:
			return // the client never opened its streams
		case <-conn.CloseChan():
			return
		}
	}
	errStream := got["error"]
	if errStream == nil {
		return
	}
	if s := got["stdin"]; s != nil {
		c.Stdin = s
	}
	if s := got["stdout"]; s != nil {
		c.Stdout = s
	}
	if s := got["stderr"]; s != nil {
		c.Stderr = s
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan(): // the client went away: stop the command
			cancel()
		case <-ctx.Done():
		}
	}()
	status := execStatus(f.exec(ctx, c))
	for _, k := range []string{"stdout", "stderr"} {
		if s := got[k]; s != nil {
			_ = s.Close()
		}
	}
	b, _ := json.Marshal(status)
	_, _ = errStream.Write(b)
	_ = errStream.Close()
}

// execStatus is the v4 status of a command's end.
func execStatus(err error) metav1.Status {
	var exit interface{ ExitCode() int }
	switch {
	case err == nil:
		return metav1.Status{Status: metav1.StatusSuccess}
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		code := strconv.Itoa(exit.ExitCode())
		return metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: "command terminated with non-zero exit code: exit status " + code,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: code}}}}
	default:
		return metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Message: err.Error()}
	}
}
