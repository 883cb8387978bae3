// Package bearer reads the Bearer credential of an HTTP request, the one
// parser of every function that takes a token (newOrder's API keys,
// dailySummary's SUMMARY_TOKEN, salesBoard's BOARD_TOKEN).
//
// The syntax is RFC 9110 §11.4 with RFC 6750 §2.1's token:
//
//	credentials = auth-scheme 1*SP token68
//	token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is case-insensitive (RFC 9110 §11.1): "Bearer", "bearer" and
// "BEARER" are one scheme. One or more spaces separate it from the token.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Scheme is the authentication scheme, as written in WWW-Authenticate.
const Scheme = "Bearer"

// Why a request carries no usable Bearer token.
var (
	// ErrMissing: no Authorization field, an empty one, another scheme,
	// or the scheme alone. RFC 6750 §3.1: the challenge names no error.
	ErrMissing = errors.New("no Bearer credential")
	// ErrRepeated: more than one Authorization field. A request with two
	// credentials is refused rather than guessed at.
	ErrRepeated = errors.New("more than one Authorization field")
	// ErrMalformed: the Bearer scheme with something that is not a
	// token68. No key can be that: answer as to an unknown token.
	ErrMalformed = errors.New("the Bearer credential is not a token68")
)

// Token returns the token of h's one Authorization field, or ErrMissing,
// ErrRepeated or ErrMalformed.
func Token(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrMissing
	case 1:
		return Parse(values[0])
	}
	return "", ErrRepeated
}

// Parse reads one Authorization field value: the token, or ErrMissing or
// ErrMalformed. Leading and trailing spaces and tabs are the field's
// whitespace (RFC 9110 §5.5), not the credential's.
func Parse(value string) (string, error) {
	value = strings.Trim(value, " \t")
	scheme, rest, found := strings.Cut(value, " ")
	if !found || !strings.EqualFold(scheme, Scheme) {
		return "", ErrMissing
	}
	token := strings.TrimLeft(rest, " ")
	if !IsToken68(token) {
		return "", ErrMalformed
	}
	return token, nil
}

// IsToken68 reports whether s is a token68 (RFC 9110 §11.2): what a
// Bearer credential can carry, so what a configured token must be.
func IsToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	return true
}

// Equal compares a presented token with the expected one in constant
// time, whatever their lengths: it compares their SHA-256 sums, so
// neither the length nor the first differing byte shows in the time.
func Equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
