package salesboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// cookieName is the cookie that keeps the owner's key.
const cookieName = "tablero"

// cookieMaxAge is how long a browser stays signed in: the key is entered
// once, and again only after BOARD_TOKEN changes.
const cookieMaxAge = 180 * 24 * time.Hour

// cookieValue is what the cookie holds for token: a MAC of it, not the
// token, so that the cookie does not give away the key; it changes with
// the key.
func cookieValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("sopaipillas salesBoard cookie v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares in constant time, whatever the lengths.
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authorized reports whether r is the owner's: its cookie, or
// "Authorization: Bearer <token>" for tools. An empty token lets everyone
// in (make dev; Setup warns).
func authorized(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return equal(auth, token)
	}
	c, err := r.Cookie(cookieName)
	return err == nil && equal(c.Value, cookieValue(token))
}

// secure reports whether r came over TLS, to the function or to the proxy
// in front of it (Knative's ingress terminates TLS).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// keyCookie is the cookie that keeps token for the browser of r. No Path:
// the browser takes the login's directory, which is the board's, whatever
// prefix a gateway serves it under.
func keyCookie(r *http.Request, token string) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: cookieValue(token), MaxAge: int(cookieMaxAge.Seconds()),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode}
}

// maxLoginBytes bounds the login form.
const maxLoginBytes = 4 << 10

// login takes the key from the page's form (field "clave"): right, it
// sets the cookie and goes back to the board; wrong, it shows the form
// again with 401 to a browser, problem+json to anything else.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		problem.WriteBodyError(w, err, maxLoginBytes)
		return
	}
	token := h.board.opts.Token
	if token != "" && !equal(r.PostForm.Get("clave"), token) {
		h.board.log.Warn("wrong board key entered")
		if wantsHTML(r) {
			h.render(w, http.StatusUnauthorized, "login.html", loginData{Wrong: true, Fecha: r.URL.Query().Get("fecha")})
			return
		}
		problem.Write(w, http.StatusUnauthorized, "wrong key", []events.FieldError{{Field: "clave", Detail: "is not BOARD_TOKEN"}})
		return
	}
	if token != "" {
		http.SetCookie(w, keyCookie(r, token))
	}
	backToBoard(w, r)
}

// logout forgets the key in this browser.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	c := keyCookie(r, "")
	c.Value, c.MaxAge = "", -1
	http.SetCookie(w, c)
	backToBoard(w, r)
}

// wantsHTML reports whether r comes from a page (a browser's form).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
