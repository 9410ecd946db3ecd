package sqldb

import "github.com/sightlinehq/sightline/platform/storecall"

// Telemetry instruments store calls; zero values disable it.
type Telemetry = storecall.Telemetry

// Calls traces and times a SQL store's calls, as every store's are
// (package storecall).
type Calls = storecall.Calls

// NewCalls returns the Calls of a store whose spans are named prefix+op
// ("accounts.store.") on the database system ("sqlite", "postgres"). An
// error that is quiet (errors.Is; a store's not-found) is an answer, not a
// failure.
func NewCalls(prefix, system string, quiet error, tel Telemetry) Calls {
	return storecall.New(prefix, system, tel, quiet)
}
