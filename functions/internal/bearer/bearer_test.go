package bearer

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string // want "" for refused
	}{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"},
		{"BEARER abc", "abc"},
		{"bEaReR abc", "abc"},
		{"Bearer  abc", "abc"},    // one or more SP
		{"Bearer     abc", "abc"}, //
		{" Bearer abc\t", "abc"},  // the field's own whitespace
		{"Bearer sop_a-b.c~d+e/f==", "sop_a-b.c~d+e/f=="},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer\tabc", ""}, // SP only between scheme and token
		{"Bearerabc", ""},
		{"Basic abc", ""},
		{"Bearer a b", ""},
		{"Bearer a=b", ""},
		{"Bearer ==", ""},
		{"Bearer a,b", ""},
		{"Bearer a\"", ""},
		{"Bearer ab\x00", ""},
		{"Bearer abc def", ""},
		{"Token abc", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if ok := err == nil; ok != (tt.want != "") || got != tt.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestTokenRefusesRepeatedField(t *testing.T) {
	h := http.Header{}
	h.Add("Authorization", "Bearer abc")
	if tok, err := Token(h); err != nil || tok != "abc" {
		t.Fatalf("one field: Token = %q, %v", tok, err)
	}
	h.Add("Authorization", "Bearer abc")
	if _, err := Token(h); !errors.Is(err, ErrRepeated) {
		t.Errorf("two Authorization fields: %v, want ErrRepeated", err)
	}
	if _, err := Token(http.Header{}); !errors.Is(err, ErrMissing) {
		t.Errorf("no Authorization field: %v, want ErrMissing", err)
	}
	if _, err := Token(http.Header{"Authorization": {"Bearer sha256:ab"}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("a stored hash as the token: %v, want ErrMalformed", err)
	}
}

// oracle is the grammar of the package doc written as a regular
// expression: no code in common with Parse.
var oracle = regexp.MustCompile(`^[ \t]*(?i:bearer) +([A-Za-z0-9._~+/-]+=*)[ \t]*$`)

// TestParseAgreesWithGrammar: generated field values near the grammar's
// edges get the regular expression's verdict and token.
func TestParseAgreesWithGrammar(t *testing.T) {
	r := rand.New(rand.NewPCG(9110, 6750))
	parts := []string{"Bearer", "bearer", "BEARER", "Basic", "Bear", "Bearerx", " ", "  ", "\t", "=", "==", "a", "Z9", "-._~+/", ",", "\"", ";", "\x00", "ñ", "sop_x"}
	agree := 0
	for range 20000 {
		var b strings.Builder
		if r.IntN(2) == 0 { // most credentials start right
			b.WriteString("bEaRer ")
		}
		for range 1 + r.IntN(6) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		in := b.String()
		got, err := Parse(in)
		ok := err == nil
		m := oracle.FindStringSubmatch(in)
		want := ""
		if m != nil {
			want = m[1]
		}
		if diff := cmp.Diff(want, got); diff != "" || ok != (m != nil) {
			t.Fatalf("Parse(%q) = %q, %v; the grammar says %v (-want, +got):\n%s", in, got, ok, m != nil, diff)
		}
		if ok {
			agree++
		}
	}
	if agree < 100 {
		t.Errorf("only %d of the generated values were credentials: the generator misses the accepted side", agree)
	}
}

func TestEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"abc", "abc", true}, {"abc", "abd", false}, {"abc", "abcd", false}, {"", "", true}, {"", "a", false}} {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
