package main

import (
	"bytes"
	"context"
	"github.com/sopaipillas/sopaipillas/functions/internal/devstack"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartupTimeoutEndsTheStart: KAFKA_BROKERS naming a broker that is not
// running, the stack gives up within STARTUP_TIMEOUT (it waited for ever),
// having said what it waits for, and its error says why it gave up.
func TestStartupTimeoutEndsTheStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := ln.Addr().String() // nothing listens there once closed
	ln.Close()
	t.Setenv("KAFKA_BROKERS", stopped)
	t.Setenv("STARTUP_TIMEOUT", "1s")
	t.Setenv("SMTP_HOST", "127.0.0.1") // no mail catcher needed
	t.Setenv("SUMMARY_TIMEZONE", "UTC")
	opts := devstack.Options{Dir: t.TempDir(), Host: "127.0.0.1", Schedule: "5 1 * * *"}

	// The bound of the whole test is the backstop of a start that waits
	// for ever, not an assertion on time.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = Run(ctx, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if ctx.Err() != nil {
		t.Fatalf("still starting after 2 minutes with STARTUP_TIMEOUT=1s:\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("started against a stopped broker:\n%s", out.String())
	}
	for _, want := range []string{"newOrder: gave up: not set up within STARTUP_TIMEOUT (1s)", stopped, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if want := "(Kafka at " + stopped + ", up to STARTUP_TIMEOUT 1s)"; !strings.Contains(out.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, out.String())
	}
}
