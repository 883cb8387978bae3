// Command devstack runs the whole system locally: `make dev`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kelseyhightower/envconfig"

	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var opts devstack.Options
	err := envconfig.Process("", &opts)
	if err == nil {
		err = devstack.Run(ctx, opts, log, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}
