// Command bundle writes api/openapi.bundled.yaml, the self-contained OpenAPI
// document for client generators (package api/bundle), from api/openapi.yaml
// and events/schemas. Run it from the repository's top: `make bundle`.
package main

import (
	"fmt"
	"os"

	"github.com/sopaipillas/sopaipillas/api/bundle"
)

func main() {
	out, err := bundle.OpenAPI(".")
	if err == nil {
		err = os.WriteFile(bundle.Bundled, out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}
