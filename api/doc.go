// Package api holds the published contract of sopaipillas: openapi.yaml
// (the HTTP API of newOrder, dailySummary, sendMail and salesBoard) and asyncapi.yaml
// (the Kafka topics), whose payloads are the JSON Schemas in
// events/schemas. openapi.bundled.yaml is openapi.yaml made self-contained
// for client generators (package api/bundle, `make bundle`). The tests in
// functions/contract bind them to the code.
package api

import _ "embed"

// OpenAPI is api/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// AsyncAPI is api/asyncapi.yaml.
//
//go:embed asyncapi.yaml
var AsyncAPI []byte
