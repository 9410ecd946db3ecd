// Package platform is the home of what every Sightline process shares:
// configuration, logging, telemetry, gRPC and HTTP server construction and
// the admin listener. Each concern lives in its own small subpackage; this
// file only documents the tree.
package platform
