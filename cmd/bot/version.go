package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	v, _ := buildVersion()
	return fmt.Sprintf("bot %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildVersion is the version (set by -ldflags, else devel+revision) and
// the VCS revision the binary was built from ("" if unknown).
func buildVersion() (v, revision string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	v = version
	if v == "" {
		v = "devel"
		if len(revision) >= 12 {
			v = "devel+" + revision[:12]
		}
	}
	return v, revision
}

func cmdVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, versionString())
	return 0
}
