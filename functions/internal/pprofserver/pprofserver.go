// Package pprofserver serves /debug/pprof on its own listener at
// $PPROF_ADDR (e.g. 127.0.0.1:6060), never on a function's port. Only the
// bench binaries (functions/cmd/bench*) import it, for its side effect; the
// release binaries have no profiler.
package pprofserver

import (
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// init starts the listener when PPROF_ADDR is set; a failure to listen only
// loses the profile, so it is not fatal to the function being measured.
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
