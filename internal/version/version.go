// Package version is the one place that says which version this binary is: the release
// in the source (checked against the Home Assistant app's config.yaml by a test), which a
// build may override with -ldflags "-X github.com/accountbridge/accountbridge/internal/version.build=…".
package version

import (
	"runtime/debug"
	"sync"
)

// Version is the current release.
const Version = "0.1.0"

// build is set by the linker (Makefile, Dockerfile); empty in a plain `go build`.
var build = ""

// String is the version this binary reports (User-Agent, Home Assistant origin, bridge
// info, `bridge version`): the -X override, else the module version `go install` records,
// else the release in the source.
func String() string { return resolved() }

// resolved reads the build info once: it is parsed anew on every call, and the version is
// asked for per account at startup (User-Agent) and on every bridge info.
var resolved = sync.OnceValue(func() string {
	if build != "" {
		return build
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
})
