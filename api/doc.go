// Package api holds the published contract of sopaipillas: openapi.yaml
// (the HTTP API of newOrder, dailySummary and sendMail) and asyncapi.yaml
// (the Kafka topics), whose payloads are the JSON Schemas in
// events/schemas. Its tests validate both documents against their official
// JSON Schemas, bind them to the code (paths, statuses, topics, event
// types, headers), judge a corpus of bodies with an independent JSON Schema
// validator and with the functions, and fuzz the live functions from
// openapi.yaml.
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
