package vendors

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// yaml11Scalars are plain scalars that YAML 1.1 (and sigs.k8s.io/yaml,
// which this package used) reads as something other than the text
// written: booleans, nulls, integers in other bases, floats, sexagesimals,
// timestamps, the merge key.
var yaml11Scalars = []string{
	"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
	"on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
	"012", "0o12", "0x1F", "0b101", "1_000", "+1", "-0", "1e3", "1E+3", ".5", "6.8523015e+5", "685.230_15e+03",
	".inf", "-.Inf", "+.INF", ".NaN", "190:20:30", "-1:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
	"2001-12-14 21:59:43.10 -5", "<<", "=",
}

// genYAML11Scalar is one of those, alone or joined to another the way a
// name could be ("NO NO", "Yes.012").
func genYAML11Scalar(r *rand.Rand) string {
	a := yaml11Scalars[r.IntN(len(yaml11Scalars))]
	switch r.IntN(4) {
	case 0:
		return a + " " + yaml11Scalars[r.IntN(len(yaml11Scalars))]
	case 1:
		return a + "." + yaml11Scalars[r.IntN(len(yaml11Scalars))]
	}
	return a
}

// TestDecodeKeepsTheTextWritten: an unquoted name is read as the text
// written (the oracle is the text itself), whatever YAML 1.1 would make
// of it: "name: NO" was read as false, "012" as 10, and vendorctl then
// wrote the name back as "false".
func TestDecodeKeepsTheTextWritten(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 9))
	names := append([]string{}, yaml11Scalars...)
	for range 500 {
		names = append(names, genYAML11Scalar(r))
	}
	for _, name := range names {
		file := "vendors:\n  - email: ana@example.com\n    name: " + name + "\n    cooks: [" + strings.ReplaceAll(name, " ", "") + "]\n"
		if strings.HasPrefix(name, "<<") || strings.HasPrefix(name, "=") {
			file = "vendors:\n  - email: ana@example.com\n    name: " + name + "\n"
		}
		f, err := Decode([]byte(file))
		if err != nil {
			t.Fatalf("name: %s: %v", name, err)
		}
		if diff := cmp.Diff(name, f.Vendors[0].Name); diff != "" {
			t.Errorf("name: %s read as %q (-want, +got):\n%s", name, f.Vendors[0].Name, diff)
		}
		if strings.Contains(file, "cooks") && f.Vendors[0].Cooks[0] != strings.ReplaceAll(name, " ", "") {
			t.Errorf("cooks: [%s] read as %q", name, f.Vendors[0].Cooks)
		}
	}
}

// TestDecodeRefusesNonText: a field that is not text is refused with its
// line, never turned into some text.
func TestDecodeRefusesNonText(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"vendors:\n  - email: ana@example.com\n    name: [Ana, Pérez]\n", "line 3: name must be text"},
		{"vendors:\n  - email: ana@example.com\n    name: {first: Ana}\n", "line 3: name must be text"},
		{"vendors:\n  - email: ana@example.com\n    name: !!int 12\n", "line 3: name must be text, not !!int"},
		{"vendors:\n  - email: ana@example.com\n    name: !!binary QW5h\n", "line 3: name must be text, not !!binary"},
		{"vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: sha256:00\n", "line 4: keys must be a list"},
		{"vendors:\n  - email: ana@example.com\n    name: Ana\n    cooks: [[a@b.cl]]\n", "line 4: cooks[0] must be text"},
		{"vendors:\n  - email: ana@example.com\n    name: Ana\n    nmae: Ana\n", `line 4: unknown field "nmae"`},
		{"vendors:\n  - email: ana@example.com\n    name: Ana\n    name: Bea\n", `line 4: field "name" given twice`},
		{"vendors:\n  - ana@example.com\n", "line 2: a vendor must be a mapping"},
		{"vendors: []\n---\nvendors: []\n", "line 2: a second YAML document"},
		{"vendorz: []\n", "vendorz"},
	} {
		_, err := Decode([]byte(tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.file, err, tt.want)
		}
	}
	// Quoted or tagged as text, it is the text.
	f, err := Decode([]byte("vendors:\n  - email: ana@example.com\n    name: !!str 012\n  - email: bea@example.com\n    name: \"NO\"\n"))
	if err != nil || f.Vendors[0].Name != "012" || f.Vendors[1].Name != "NO" {
		t.Errorf("tagged and quoted names: %+v, %v", f.Vendors, err)
	}
}
