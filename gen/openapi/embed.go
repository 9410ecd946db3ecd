// Package openapi exposes the generated OpenAPI document of the REST API.
// This file is the only hand-written file under gen/.
package openapi

import _ "embed"

// Document is the OpenAPI v2 description of /api/v1, generated from the
// protos and proto/sightline/api.http.yaml by `make generate`.
//
//go:embed sightline.swagger.json
var Document []byte
