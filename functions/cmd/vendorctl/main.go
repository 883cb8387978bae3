// Command vendorctl edits the vendor registry file (VENDORS_FILE, package
// functions/internal/vendors): it adds vendors and their API keys, printing
// each new key once, revokes keys, lists and checks the file.
//
//	vendorctl add    --file vendors.yaml --email ana@example.com --name "Ana" [--cook cocina@example.com]...
//	vendorctl revoke --file vendors.yaml --email ana@example.com (--key-id 1a2b3c4d5e6f | --all)
//	vendorctl list   --file vendors.yaml
//	vendorctl check  --file vendors.yaml
//
// add on a vendor already in the file gives it one more key (rotation: add,
// hand the new key over, then revoke the old one). Only hashes are written;
// the key is printed on stdout and nowhere else. The file is rewritten whole
// (comments are not kept), with mode 0600.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vendorctl:", err)
		os.Exit(1)
	}
}
