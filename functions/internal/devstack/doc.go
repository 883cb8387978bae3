// Package devstack holds the local stand-ins of what the platform does
// around the functions, shared by `make dev` (functions/cmd/devstack) and
// the fault harness (functions/cmd/faults): the KafkaSource and the
// PingSource (each following the real Knative part's documented
// behaviour), the mail catcher and its web view, the dead-letter files and
// the lock on a data directory. It imports no function package: the
// composition of the four functions is the binaries' part.
package devstack
