// Package version is the release version, shared by the binary and checked against the
// Home Assistant app's config.yaml by a test. Builds may override it with -ldflags.
package version

// Version is the current release.
const Version = "0.1.0"
