// Command image writes the bot's container image as an OCI image archive
// (an OCI image layout in a tar file, as `skopeo copy oci-archive:…`,
// `podman load` and `crane push` take it), without a Docker engine: the
// same image as the Dockerfile's, on an empty (scratch) base:
//
//	/bot                                   the static binary (entrypoint)
//	/etc/ssl/certs/ca-certificates.crt     CA roots (SSL_CERT_FILE)
//	/etc/passwd, /etc/group                the nonroot user 65532
//	/tmp, /var/lib/failover                writable by it
//
// Usage (make image runs it):
//
//	go run ./tools/image -bin bin/bot-linux-amd64 -ca /etc/ssl/certs/ca-certificates.crt \
//	    -ref ghcr.io/example/failover-bot:0.1.0 -version 0.1.0 -o bin/failover-bot.oci.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	var o Options
	flag.StringVar(&o.Binary, "bin", "", "the bot, built static for linux (CGO_ENABLED=0)")
	flag.StringVar(&o.CABundle, "ca", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA roots to include")
	flag.StringVar(&o.Ref, "ref", "failover-bot:latest", "image reference written into the layout's index")
	flag.StringVar(&o.Version, "version", "", "org.opencontainers.image.version")
	flag.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision")
	flag.StringVar(&o.Arch, "arch", "amd64", "the binary's architecture")
	out := flag.String("o", "", "the OCI archive to write")
	flag.Parse()
	if o.Binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: -bin and -o are required")
		os.Exit(2)
	}
	// Reproducible: file times and the creation time from SOURCE_DATE_EPOCH.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image: SOURCE_DATE_EPOCH=%q is not a number of seconds\n", s)
			os.Exit(2)
		}
		o.Created = time.Unix(n, 0).UTC()
	}
	digest, size, err := Build(o, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s (%.1f MiB)\n", *out, digest, float64(size)/(1<<20))
}
