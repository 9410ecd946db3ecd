// Package tracker holds the built browser scripts that ingest serves. The
// TypeScript sources are beside this file; `make tracker` rebuilds dist/,
// which is committed (like gen/) and checked for drift in CI.
package tracker

import _ "embed"

// Bootstrap is the bootstrap template: ingest replaces the JSON string
// literal "__SIGHTLINE_CONFIG__" with the site's settings object.
//
//go:embed dist/bootstrap.js
var Bootstrap []byte

// Recorder is the recorder bundle, served under a content-hashed name.
//
//go:embed dist/recorder.js
var Recorder []byte

// Feedback is the feedback widget and survey bundle, served under a
// content-hashed name; the bootstrap loads it only where the site has a
// widget or a survey for the page.
//
//go:embed dist/feedback.js
var Feedback []byte
