package events

import (
	"regexp"
	"strconv"
	"strings"
)

// MaxSafeInteger is 2^53-1, the largest integer every JSON client
// (JavaScript included) represents exactly: the bound of every integer of
// the contract.
const MaxSafeInteger = 1<<53 - 1

// numberLiteral is the grammar of a JSON number (RFC 8259 §6).
var numberLiteral = regexp.MustCompile(`^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$`)

// integral reads a JSON number literal whose value has no fractional part,
// as JSON Schema's "integer" does: 15, 15.0, 1e1, 1.5e1 and 150e-1 are all
// integers, 15.5 and 1e-1 are not. It works on the decimal digits, never on
// a float, so 9007199254740993.0 is not taken for its rounded neighbour.
// ok is false for a number with a fraction; inRange false for an integer
// beyond [minV, maxV].
func integral(lit string, minV, maxV int64) (n int64, ok, inRange bool) {
	m := numberLiteral.FindStringSubmatch(lit)
	if m == nil {
		return 0, false, false
	}
	neg, whole, frac, expLit := m[1] == "-", m[2], m[3], m[4]
	exp := int64(0)
	if expLit != "" {
		e, err := strconv.ParseInt(expLit, 10, 64)
		if err != nil { // beyond ±9.2e18: only its sign matters below
			e = 1 << 40
			if expLit[0] == '-' {
				e = -e
			}
		}
		exp = max(-1<<40, min(e, 1<<40))
	}
	digits := strings.TrimLeft(whole+frac, "0")
	exp -= int64(len(frac))
	if digits == "" { // zero, however spelled
		return 0, true, minV <= 0 && 0 <= maxV
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	if exp < 0 { // the last non-zero digit is after the point
		return 0, false, false
	}
	if int64(len(trimmed))+exp > 19 {
		return 0, true, false
	}
	v, err := strconv.ParseInt(trimmed+strings.Repeat("0", int(exp)), 10, 64)
	if err != nil {
		return 0, true, false
	}
	if neg {
		v = -v
	}
	return v, true, minV <= v && v <= maxV
}
