package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The image built from the real bot: unpacked by hand from the archive
// (index.json → manifest → config and layers, each blob checked against
// its digest), its rootfs holds a static /bot that runs (`bot version`),
// the CA roots and the nonroot user; its config runs /bot serve as 65532.
func TestImageUnpacksAndItsBinaryRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is a linux image")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bot")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v9.9.9-test", "-o", bin, "./cmd/bot")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the bot: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "bot.oci.tar")
	digest, size, err := Build(Options{Binary: bin, CABundle: "/etc/ssl/certs/ca-certificates.crt", Ref: "failover-bot:test",
		Version: "v9.9.9-test", Arch: runtime.GOARCH}, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: archive %.1f MiB", digest, float64(size)/(1<<20))

	blobs := untar(t, out) // path in the layout → content
	var index struct {
		Manifests []struct {
			MediaType, Digest string
			Annotations       map[string]string
		}
	}
	mustJSON(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "failover-bot:test" ||
		index.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" || index.Manifests[0].Digest != digest.String() {
		t.Fatalf("index.json: %s", blobs["index.json"])
	}
	if !strings.Contains(string(blobs["oci-layout"]), `"imageLayoutVersion"`) {
		t.Error("no oci-layout file")
	}
	blob := func(d string) []byte {
		b, ok := blobs["blobs/"+strings.Replace(d, ":", "/", 1)]
		if !ok {
			t.Fatalf("blob %s missing", d)
		}
		sum := sha256.Sum256(b)
		if "sha256:"+hex.EncodeToString(sum[:]) != d {
			t.Fatalf("blob %s does not match its digest", d)
		}
		return b
	}
	var manifest struct {
		Config struct{ MediaType, Digest string }
		Layers []struct {
			MediaType, Digest string
			Size              int64
		}
	}
	mustJSON(t, blob(index.Manifests[0].Digest), &manifest)
	var cfg struct {
		OS, Architecture string
		Config           struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Env        []string
		}
	}
	mustJSON(t, blob(manifest.Config.Digest), &cfg)
	if cfg.OS != "linux" || cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/bot" ||
		strings.Join(cfg.Config.Cmd, " ") != "serve" {
		t.Errorf("image config: %+v", cfg)
	}
	rootfs := filepath.Join(dir, "rootfs")
	var layers int64
	for _, l := range manifest.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer media type %s", l.MediaType)
		}
		layers += l.Size
		extract(t, blob(l.Digest), rootfs)
	}
	t.Logf("%d layers, %.1f MiB compressed", len(manifest.Layers), float64(layers)/(1<<20))

	botPath := filepath.Join(rootfs, "bot")
	f, err := elf.Open(botPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/bot is dynamically linked: it would not run on scratch")
		}
	}
	f.Close()
	run := exec.Command(botPath, "version")
	run.Env = []string{} // nothing from the host
	got, err := run.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "bot v9.9.9-test ") {
		t.Errorf("/bot version from the rootfs = %q, %v", got, err)
	}
	ca, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || countCerts(ca) < 50 {
		t.Errorf("CA roots in the image: %d certificates, %v", countCerts(ca), err)
	}
	passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q", passwd)
	}
	for _, d := range []string{"tmp", "var/lib/failover", "home/nonroot"} {
		if st, err := os.Stat(filepath.Join(rootfs, d)); err != nil || !st.IsDir() {
			t.Errorf("/%s missing", d)
		}
	}

	// Reproducible: the same inputs give the same image.
	again, _, err := Build(Options{Binary: bin, CABundle: "/etc/ssl/certs/ca-certificates.crt", Ref: "failover-bot:test",
		Version: "v9.9.9-test", Arch: runtime.GOARCH}, filepath.Join(dir, "again.tar"))
	if err != nil || again != digest {
		t.Errorf("a second build gave %s (%v), want %s", again, err, digest)
	}
}

func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = b
		}
	}
}

// extract unpacks a gzipped layer into root (regular files and
// directories: all the image has).
func extract(t *testing.T, gz []byte, root string) {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(gz)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			t.Fatalf("layer entry %q escapes the rootfs", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("layer entry %q of type %c", h.Name, h.Typeflag)
		}
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
