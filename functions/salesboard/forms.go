package salesboard

import (
	"net/http"
	"net/url"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// crossOrigin is the standard library's CSRF check: a POST whose
// Sec-Fetch-Site is not same-origin (or none), or, from a browser without
// it, whose Origin is not the Host, is cross-site. No origin is trusted.
var crossOrigin = http.NewCrossOriginProtection()

// sameOrigin passes only requests from the board's own pages to a form's
// handler (login, logout): another site's page that posts a form to the
// board gets 403 and changes nothing. Tools that send neither header (curl)
// pass.
func sameOrigin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := crossOrigin.Check(r); err != nil {
			field := "Sec-Fetch-Site"
			if r.Header.Get(field) == "" {
				field = "Origin"
			}
			h := r.Header.Get(field)
			problem.Write(w, http.StatusForbidden, "cross-site request refused: the board's forms are posted only from its own pages",
				[]events.FieldError{{Field: field, Detail: "is " + h + ", not this board's origin"}})
			return
		}
		next(w, r)
	}
}

// backToBoard answers 303 to the board's page, keeping the day the request
// names (?fecha=, as sent: the page checks it). Relative: the board may be
// served under a prefix (/tablero/).
func backToBoard(w http.ResponseWriter, r *http.Request) {
	to := "./"
	if fecha := r.URL.Query().Get("fecha"); fecha != "" {
		to += "?" + url.Values{"fecha": {fecha}}.Encode()
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
}
