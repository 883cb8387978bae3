// Command asyncapimodels decodes Kafka records with the Go models that
// `asyncapi generate models golang` writes from api/asyncapi.yaml (package
// sopaipillas, beside this file in the test's module), as a client team
// would: it reads JSON lines {"message", "value"} from stdin, decodes each
// value into the model of its message with encoding/json, and prints
// {"message", "decoded"}, the model encoded again, so that the test sees
// every field the model kept (functions/contract/asyncapi_models_test.go).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"example.com/models/sopaipillas"
)

// decode decodes data into a new model of the message named message (its
// CloudEvents type, or the ledger's message name) and encodes it again.
func decode(message string, data []byte) (any, error) {
	var v any
	switch message {
	case "cl.sopaipillas.order.created.v1":
		v = &sopaipillas.Order{}
	case "cl.sopaipillas.summary.created.v1":
		v = &sopaipillas.Summary{}
	case "cl.sopaipillas.cookreport.created.v1":
		v = &sopaipillas.CookReport{}
	case "cl.sopaipillas.vendorreport.created.v1":
		v = &sopaipillas.VendorReport{}
	case "ledger-record":
		v = &sopaipillas.LedgerRecord{}
	default:
		return nil, fmt.Errorf("no model for message %q", message)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%s: %w", message, err)
	}
	return v, nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<24)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var rec struct {
			Message string          `json:"message"`
			Value   json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(in.Bytes(), &rec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		decoded, err := decode(rec.Message, rec.Value)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := out.Encode(map[string]any{"message": rec.Message, "decoded": decoded}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
