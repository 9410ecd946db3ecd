package assets

import (
	"errors"

	"github.com/sightlinehq/sightline/netguard"
)

// ErrForbiddenTarget is returned when a fetch would connect to an address
// that is not public (loopback, private, link-local, ...; see netguard):
// the fetcher takes URLs from recorded pages, which anyone can make name
// any host.
var ErrForbiddenTarget = errors.New("assets: target address is not public")

// Resolver looks up a host's addresses (*net.Resolver is one; tests give
// their own to name private addresses without DNS).
type Resolver = netguard.Resolver
