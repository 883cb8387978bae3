package events

import "embed"

// Schemas holds the JSON Schema of each payload: order.json, summary.json and
// summary-request.json. Tests check that the Go types and the schemas agree.
//
//go:embed schemas/*.json
var Schemas embed.FS
