package app

import (
	"log/slog"
	"runtime/debug"

	"github.com/sightlinehq/sightline/platform/logging"
)

// version is set at link time by the Makefile (-X .../app.version=...).
var version = ""

// Version returns the build version: the link-time version, else the VCS
// revision recorded by the Go toolchain, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
	}
	return "dev"
}

func parseLevel(s string) (slog.Level, error) { return logging.ParseLevel(s) }
