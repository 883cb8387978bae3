package neworder

import "net/http"

// settling returns w, which settles caller's rate budget when the answer's
// status is written: a 2xx (the order placed) spends it, any other status
// gives it back (README, "429": a refused request spends none). It settles
// before the answer leaves, so a client that retries at once finds the
// token back. done gives it back if no answer was written.
func settling(w http.ResponseWriter, caller Caller) (_ http.ResponseWriter, done func()) {
	if caller.settle == nil {
		return w, func() {}
	}
	return &settleWriter{ResponseWriter: w, settle: caller.settle}, func() { caller.settle(false) }
}

// settleWriter calls settle once, at the first status written.
type settleWriter struct {
	http.ResponseWriter
	settle func(placed bool)
	wrote  bool
}

func (w *settleWriter) WriteHeader(status int) {
	if !w.wrote && status >= 200 { // 1xx is not the answer
		w.wrote = true
		w.settle(status >= 200 && status < 300)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *settleWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *settleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
