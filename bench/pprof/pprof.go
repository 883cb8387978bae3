//go:build pprof

// Package main's pprof.go adds /debug/pprof to a function binary built with
// -tags pprof, on its own listener at $PPROF_ADDR (e.g. 127.0.0.1:6060),
// never on the function's port. hack/bench.sh places it beside
// functions/cmd/neworder with -overlay for the bench's profiling run only;
// release builds have no tag and no profiler.
package main

import (
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
}
