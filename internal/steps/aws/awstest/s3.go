package awstest

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is gofakes3's, behind the fake's authentication, faults and call
// records: this only routes to it and seeds it.
var s3Service = &service{
	name:  "s3",
	proto: protoS3,
	resource: func(_ *Server, c *call) string {
		if k := c.vars["key"]; k != "" {
			return "arn:aws:s3:::" + c.vars["bucket"] + "/" + k
		}
		return "arn:aws:s3:::" + c.vars["bucket"]
	},
}

// s3Store is gofakes3's in-memory backend and its clock.
type s3Store struct {
	backend *s3mem.Backend
	clock   *s3Clock
	seedMu  sync.Mutex
}

// s3Clock is the server's clock for gofakes3, except while an object is
// seeded, when it reads that object's LastModified: gofakes3 stamps
// objects with its clock and has no other way to set LastModified.
type s3Clock struct {
	mu  sync.Mutex
	now func() time.Time
	at  time.Time
}

var gmt = time.FixedZone("GMT", 0)

// Now implements gofakes3.TimeSource.
func (c *s3Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() {
		return c.at.In(gmt)
	}
	return c.now().In(gmt)
}

// Since implements gofakes3.TimeSource.
func (c *s3Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (s *Server) initS3() {
	clock := &s3Clock{now: s.now}
	s.s3data = &s3Store{backend: s3mem.New(s3mem.WithTimeSource(clock)), clock: clock}
	s.s3 = gofakes3.New(s.s3data.backend,
		gofakes3.WithTimeSource(clock),
		gofakes3.WithTimeSkewLimit(0),
		gofakes3.WithAutoBucket(false),
	).Server()
}

// SeedBucket creates a bucket.
func (s *Server) SeedBucket(name string) error {
	if err := s.s3data.backend.CreateBucket(name); err != nil {
		return fmt.Errorf("awstest: create bucket %s: %w", name, err)
	}
	return nil
}

// SeedObject puts an object whose LastModified is lastModified (S3 keeps
// it to the second). A wire PutObject that runs at the same moment may be
// stamped with that time too.
func (s *Server) SeedObject(bucket, key string, body []byte, lastModified time.Time) error {
	st := s.s3data
	st.seedMu.Lock()
	defer st.seedMu.Unlock()
	st.clock.mu.Lock()
	st.clock.at = lastModified.Truncate(time.Second)
	st.clock.mu.Unlock()
	defer func() {
		st.clock.mu.Lock()
		st.clock.at = time.Time{}
		st.clock.mu.Unlock()
	}()
	if _, err := st.backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		return fmt.Errorf("awstest: put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// s3Operation names the S3 operation of a path-style request.
func s3Operation(r *http.Request) (string, map[string]string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	vars := map[string]string{"bucket": bucket, "key": key}
	q := r.URL.Query()
	switch {
	case bucket == "" && r.Method == http.MethodGet:
		return "ListBuckets", vars
	case key == "":
		switch r.Method {
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return "ListObjectsV2", vars
			}
			if q.Has("location") {
				return "GetBucketLocation", vars
			}
			return "ListObjects", vars
		case http.MethodHead:
			return "HeadBucket", vars
		case http.MethodPut:
			return "CreateBucket", vars
		case http.MethodDelete:
			return "DeleteBucket", vars
		case http.MethodPost:
			if q.Has("delete") {
				return "DeleteObjects", vars
			}
		}
	default:
		switch r.Method {
		case http.MethodGet:
			return "GetObject", vars
		case http.MethodHead:
			return "HeadObject", vars
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return "CopyObject", vars
			}
			return "PutObject", vars
		case http.MethodDelete:
			return "DeleteObject", vars
		}
	}
	return r.Method, vars
}

// statusWriter records the status gofakes3 sends.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (s *Server) serveS3(c *call) {
	sw := &statusWriter{ResponseWriter: c.w}
	sw.Header().Set("X-Amz-Request-Id", c.reqID)
	s.s3.ServeHTTP(sw, c.r)
	c.status = sw.status
	if c.status == 0 {
		c.status = http.StatusOK
	}
}
