package events

import (
	"net/mail"
	"strings"
)

// maxEmailLength is the longest address SMTP can carry (RFC 5321 path limit).
const maxEmailLength = 254

// maxLocalLength is the longest local part, before the @ (RFC 5321).
const maxLocalLength = 64

// validateEmail accepts exactly one bare address: no display name, no angle
// brackets, no list, no control characters. The address ends up in an email
// header, so anything that could add a header or a recipient is refused.
func validateEmail(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxEmailLength:
		return "must be at most 254 characters"
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "must not contain control characters (CR, LF, ...)"
	case strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f }):
		// Non-ASCII addresses need SMTPUTF8 end to end, and schemas/order.json
		// says "format": "email" (RFC 5321), not "idn-email".
		return "must be ASCII (write an international domain in its xn-- form)"
	case strings.LastIndexByte(s, '@') > maxLocalLength:
		return "must have at most 64 characters before the @"
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "must be a single email address like vendor@example.com"
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "must be a single email address like vendor@example.com"
	}
	return ""
}

// CanonicalEmail is the form in which an address identifies a vendor or a
// cook: the whole address in lower case. The domain is case-insensitive by
// definition (RFC 5321 §2.4, RFC 1035 §2.3.3); the local part may be
// case-sensitive in theory, but no mailbox provider we know of treats it
// so and RFC 5321 §2.4 advises against relying on it. Addresses are ASCII
// (validateEmail), so lower-casing is byte-wise and never changes length.
// "Pedro@EXAMPLE.com" and "pedro@example.com" are one vendor, one report,
// one email (README, "Which day an order counts in").
func CanonicalEmail(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
