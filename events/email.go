package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The address rule is schemas/email.json: the code reads its length and
// patterns from there, so the schema other teams validate with and the
// code cannot drift apart.
var (
	// maxEmailLength is the longest address SMTP can carry (RFC 5321 path
	// limit): email.json's maxLength.
	maxEmailLength int
	// emailRules are email.json's allOf subschemas, in order.
	emailRules []emailRule
)

// emailRule is one subschema of email.json: {"pattern": p} or
// {"not": {"pattern": p}}, and its description, the error detail.
type emailRule struct {
	re     *regexp.Regexp
	negate bool
	detail string
}

func init() {
	maxEmailLength, emailRules = loadEmailRule()
}

func loadEmailRule() (int, []emailRule) {
	data, err := Schemas.ReadFile("schemas/email.json")
	if err != nil {
		panic(err)
	}
	type pattern struct {
		Pattern string `json:"pattern"`
	}
	var schema struct {
		MaxLength int `json:"maxLength"`
		AllOf     []struct {
			Description string   `json:"description"`
			Pattern     string   `json:"pattern"`
			Not         *pattern `json:"not"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		panic(fmt.Sprintf("schemas/email.json: %v", err))
	}
	rules := make([]emailRule, 0, len(schema.AllOf))
	for _, s := range schema.AllOf {
		r := struct {
			pattern string
			negate  bool
			detail  string
		}{pattern: s.Pattern, detail: s.Description}
		if s.Not != nil {
			r.pattern, r.negate = s.Not.Pattern, true
		}
		rules = append(rules, emailRule{re: regexp.MustCompile(r.pattern), negate: r.negate, detail: r.detail})
	}
	if schema.MaxLength == 0 || len(rules) == 0 {
		panic("schemas/email.json: no maxLength or no rules")
	}
	return schema.MaxLength, rules
}

// CheckEmail is the address rule of every entry point (newOrder's
// email_vendedor and email_cocinero, the vendor registry, vendorctl,
// sendMail's MAIL_FROM): nil for an address schemas/email.json accepts,
// else an error whose message is the first rule broken ("must be a single
// email address like vendor@example.com"), to be prefixed with the field
// or variable's name. The message never repeats the address.
func CheckEmail(s string) error {
	if msg := validateEmail(s); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// validateEmail accepts exactly one bare address (schemas/email.json): no
// display name, no angle brackets, no list, no control characters. The
// address ends up in an email header, so anything that could add a header
// or a recipient is refused. The detail names the first reason, checked in
// the order a client can act on: an over-long non-ASCII address is refused
// for being non-ASCII.
func validateEmail(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f }):
		// Non-ASCII addresses need SMTPUTF8 end to end.
		return "must be ASCII (write an international domain in its xn-- form)"
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "must not contain control characters (CR, LF, ...)"
	case len(s) > maxEmailLength: // ASCII: bytes are characters
		return fmt.Sprintf("must be at most %d characters", maxEmailLength)
	case !strings.Contains(s, "@"):
		// email.json's next rule refuses it too, but its detail speaks of
		// the characters before an @.
		return "must contain an @, like vendor@example.com"
	}
	for _, r := range emailRules {
		if r.re.MatchString(s) == r.negate {
			return r.detail
		}
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
