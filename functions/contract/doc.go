// Package contract holds the tests that bind the published contract
// (api/openapi.yaml, api/asyncapi.yaml and events/schemas) to the code:
// the documents validate against their official JSON Schemas, name what
// the code serves and publishes, agree with an independent JSON Schema
// validator on a corpus of bodies, and survive schemathesis against the
// live functions. It has no code of its own.
package contract
