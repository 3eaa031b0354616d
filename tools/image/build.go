package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options say what goes into the image.
type Options struct {
	Binary, CABundle  string
	Ref               string
	Version, Revision string
	Arch              string
	Created           time.Time // zero: the Unix epoch (reproducible)
}

// uid is the nonroot user (distroless's), the chart's runAsUser.
const uid = 65532

// Build writes the image to out (an OCI archive) and returns its manifest
// digest and the archive's size.
func Build(o Options, out string) (v1.Hash, int64, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("read the binary: %w", err)
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("read the CA roots (apt-get install ca-certificates): %w", err)
	}
	if n := countCerts(ca); n == 0 {
		return v1.Hash{}, 0, fmt.Errorf("%s holds no certificate", o.CABundle)
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	base, err := layer(o.Created, []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, owner: uid},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		{name: "var/lib/failover/", mode: 0o700, dir: true, owner: uid},
	})
	if err != nil {
		return v1.Hash{}, 0, err
	}
	app, err := layer(o.Created, []entry{{name: "bot", mode: 0o755, body: bin}})
	if err != nil {
		return v1.Hash{}, 0, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, app)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("add layers: %w", err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.Arch, v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		Entrypoint:   []string{"/bot"},
		Cmd:          []string{"serve"},
		User:         fmt.Sprintf("%d:%d", uid, uid),
		WorkingDir:   "/home/nonroot",
		Env:          []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"},
		ExposedPorts: map[string]struct{}{"9090/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "failover-bot",
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("image config: %w", err)
	}
	dir, err := os.MkdirTemp("", "image-layout-")
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Ref})); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("OCI layout: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	size, err := tarDir(dir, out, o.Created)
	return digest, size, err
}

// entry is one file or directory of a layer.
type entry struct {
	name  string
	mode  int64
	dir   bool
	body  []byte
	owner int
}

// layer is an uncompressed-then-gzipped OCI layer of the entries, owned by
// root unless said, every time set to at.
func layer(at time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: at, Uid: e.owner, Gid: e.owner, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the directory tree as a tar file (paths relative to it,
// in lexical order, times set to at) and returns its size.
func tarDir(dir, out string, at time.Time) (int64, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), at, 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	err = errors.Join(err, tw.Close())
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

// countCerts counts the certificates of a PEM bundle that parse.
func countCerts(pemBytes []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return n
		}
		if _, err := x509.ParseCertificate(b.Bytes); err == nil && b.Type == "CERTIFICATE" {
			n++
		}
	}
}
