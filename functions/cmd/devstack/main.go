// Command devstack runs the whole system on one machine for `make dev`: the
// four functions as separate HTTP servers, Kafka (in-process unless
// KAFKA_BROKERS names real brokers), a mail catcher, and the local
// stand-ins of what Knative does around the functions (KafkaSource,
// PingSource and the ingress routing /newOrder, /dailySummary and
// /tablero), which live in functions/internal/devstack.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { <-ctx.Done(); stop() }() // a second Ctrl-C ends it at once
	if err := Main(ctx, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}
