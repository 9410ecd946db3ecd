package app

import (
	"flag"
	"strconv"

	accounts "github.com/sightlinehq/sightline/svc-accounts"
	search "github.com/sightlinehq/sightline/svc-search"
)

// DemoConfig turns the demo shop (package demo) on or off.
type DemoConfig struct {
	// Enabled is nil unless the operator set it: the shop is then on only
	// in the embedded all-in-one mode (see Config.DemoEnabled).
	Enabled *bool `yaml:"enabled"`
}

// RegisterFlags registers demo.enabled.
func (c *DemoConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(optionalBool{&c.Enabled}, "demo.enabled",
		"Serve the demo shop under /demo/<site key>/ and offer it in the dashboard. Default: on only in the embedded one-process mode (every module here, SQLite, Pebble, Bleve, no server.public-url or ingest.public-url).")
}

// DemoEnabled reports whether this process serves the demo shop: as set,
// else only when it looks like a newcomer's machine — every module in one
// process on the embedded stores, with no public URL. A deployment
// configured for production never shows it unless asked to.
func (c *Config) DemoEnabled() bool {
	if c.Demo.Enabled != nil {
		return *c.Demo.Enabled
	}
	targets, err := parseTargets(c.Target)
	return err == nil && len(targets) == len(moduleNames()) &&
		c.Accounts.Backend == accounts.BackendSQLite &&
		c.Recordings.Backend == "pebble" &&
		c.Search.Backend == search.BackendBleve &&
		c.Server.PublicURL == "" && c.Ingest.PublicURL == ""
}

// optionalBool is a boolean flag that remembers whether it was set at all.
type optionalBool struct{ p **bool }

func (o optionalBool) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatBool(**o.p)
}

func (o optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*o.p = &v
	return nil
}

func (o optionalBool) IsBoolFlag() bool { return true }
