package contract

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"github.com/sopaipillas/sopaipillas/events"
)

// addressCorpus is the shared corpus of addresses: the cases that once
// split the entry points, then generated ones (genAddress). Every entry
// point must give each one the verdict of events.CheckEmail
// (TestAddressVerdictEverywhere), and events.CheckEmail must give the
// verdict of a third-party validator of events/schemas/email.json
// (TestEmailSchemaAgreesWithValidator).
func addressCorpus(n int) []string {
	fixed := []string{
		"vendor@example.com", "Pedro.Perez+ventas@mail.EXAMPLE.cl", "o'brien@example.ie", "a@b", "1@2",
		"vendor@xn--mller-kva.de", "a@xn--80ak6aa92e.com", "a@xn----zmb.cl",
		// Accepted by vendorctl and the registry, refused by newOrder.
		"carla@mi_dominio.cl", "x@[127.0.0.1]", "x@-bad-.com", "x@xn--.com", "a@x-.cl",
		// Labels with -- as their 3rd and 4th characters (RFC 5890
		// §2.3.1): found by schemathesis, accepted by the patterns and
		// refused by a validator asserting format "email".
		"z.fa%.|@yj--dsgafkjl.e.5ymnlz.r", "a@ab--c.cl", "a@a---b.cl", "a@xn--abc.com", "a@xn--ls8h.la",
		"a@XN--mnchen-3ya.de",
		"", "nope", "@b.cl", "a@", "a@b.cl.", "a..b@c.cl", ".a@b.cl", "a b@c.cl", "Ana <a@b.cl>", "a@b.cl, c@d.cl",
		"a@b.cl\r\nBcc: x@y.cl", "\"john\"@example.com", "ñandú@b.cl", "vendor@müller.de",
		strings.Repeat("a", 64) + "@b.cl", strings.Repeat("a", 65) + "@b.cl",
		"a@" + strings.Repeat("b", 63) + ".cl", "a@" + strings.Repeat("b", 64) + ".cl",
	}
	r := rand.New(rand.NewPCG(21, 23))
	for range n {
		fixed = append(fixed, genAddress(r))
	}
	return fixed
}

// genAddress makes an address near the edges of the rule: local parts of
// every atext character, dots in every place, domain labels with hyphens
// in the 3rd and 4th characters, xn-- labels both real (IDNA-encoded
// words of several scripts) and made up, in either letter case.
func genAddress(r *rand.Rand) string {
	const atext = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
	const odd = " \"(),:;<>@[\\]\x7f\tñ"
	pick := func(s string) byte { return s[r.IntN(len(s))] }
	var local strings.Builder
	for i := range 1 + r.IntN(8) {
		if i > 0 || r.IntN(20) == 0 {
			local.WriteByte('.')
		}
		for range 1 + r.IntN(5) {
			if r.IntN(30) == 0 {
				local.WriteByte(pick(odd))
			} else {
				local.WriteByte(pick(atext))
			}
		}
	}
	if r.IntN(30) == 0 {
		local.WriteByte('.')
	}
	words := []string{"münchen", "ñandú", "пример", "παράδειγμα", "例子", "مثال", "דוגמה", "😀", "straße", "a\u200db", "ab"}
	labels := make([]string, 1+r.IntN(3))
	for i := range labels {
		var l string
		switch r.IntN(8) {
		case 0: // hyphens in the 3rd and 4th characters
			l = string([]byte{pick("abxnX0-"), pick("abnN1-")}) + "--" + string(pick("ab9-"))
		case 1: // a real A-label, when the word has one
			if a, err := idna.ToASCII(words[r.IntN(len(words))]); err == nil && strings.HasPrefix(a, "xn--") {
				l = a
			} else {
				l = "xn--" + strings.Repeat(string(pick("abc123")), 1+r.IntN(6))
			}
		case 2: // a made-up one
			l = "xn--" + string([]byte{pick("abc9-"), pick("abc9-"), pick("abcd")})
		case 3:
			l = strings.ToUpper(labels[max(i-1, 0)] + "xn--mnchen-3ya")[:4+r.IntN(10)]
		default:
			var b strings.Builder
			for range 1 + r.IntN(12) {
				b.WriteByte(pick("abcdexyz0129-_"))
			}
			l = b.String()
			if r.IntN(40) == 0 {
				l = strings.Repeat("q", 62+r.IntN(3))
			}
		}
		labels[i] = l
	}
	domain := strings.Join(labels, ".")
	if r.IntN(40) == 0 {
		domain += "."
	}
	switch r.IntN(40) {
	case 0:
		return local.String()
	case 1:
		return local.String() + "@" + domain + "@" + domain
	}
	return local.String() + "@" + domain
}

// emailOracle validates each address against events/schemas/email.json
// with two validators that share no code with events.CheckEmail nor with
// each other, format assertion on: jsonschema (Python's re) and
// jsonschema-rs (Rust's regex engines). It prints one line per address:
// both verdicts, "true false".
const emailOracle = `
import json, sys, jsonschema, jsonschema_rs
schema = json.load(open(sys.argv[1]))
py = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
rs = jsonschema_rs.validator_for(schema, validate_formats=True)
for line in sys.stdin:
    a = json.loads(line)
    print(json.dumps(py.is_valid(a)), json.dumps(rs.is_valid(a)))
`

// TestEmailSchemaAgreesWithValidator: events.CheckEmail accepts exactly
// the addresses two third-party validators of email.json accept, over the
// corpus and 3,000 generated ones.
func TestEmailSchemaAgreesWithValidator(t *testing.T) {
	py := python(t)
	corpus := addressCorpus(3000)
	var in strings.Builder
	for _, a := range corpus {
		b, _ := json.Marshal(a)
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(py, "-c", emailOracle, filepath.Join(repoRoot(t), "events/schemas/email.json"))
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	verdicts := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(verdicts) != len(corpus) {
		t.Fatalf("oracle gave %d verdicts for %d addresses", len(verdicts), len(corpus))
	}
	valid, bad := 0, 0
	for i, a := range corpus {
		err := events.CheckEmail(a)
		// Addresses compare in lower case (events.CanonicalEmail): the
		// rule must not tell two spellings of one address apart.
		if lower := events.CheckEmail(events.CanonicalEmail(a)); (lower == nil) != (err == nil) {
			t.Errorf("%q: events.CheckEmail = %v, and %v in lower case", a, err, lower)
		}
		got := "false false"
		if err == nil {
			got = "true true"
			valid++
		}
		if got != verdicts[i] {
			bad++
			if bad <= 20 {
				t.Errorf("%q: events.CheckEmail = %v; jsonschema, jsonschema-rs valid: %s", a, err, verdicts[i])
			}
		}
	}
	t.Logf("%d addresses, %d valid, %d disagreements", len(corpus), valid, bad)
}
