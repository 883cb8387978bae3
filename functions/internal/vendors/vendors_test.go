package vendors

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sopaipillas/sopaipillas/functions/internal/logtest"
)

func TestParse(t *testing.T) {
	h1 := HashKey("sop_uno")
	h2 := HashKey("sop_dos")
	tests := []struct {
		name    string // what the file holds
		file    string // its content
		wantErr string // a part of the error; "" for none
	}{
		{name: "one vendor", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [" + h1 + "]\n    cooks: [cocina@example.com]\n"},
		{name: "JSON", file: `{"vendors":[{"email":"ana@example.com","name":"Ana","keys":["` + h1 + `"]}]}`},
		{name: "no vendors", file: "vendors: []\n"},
		{name: "vendor without keys", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n"},
		{name: "hash in upper case", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [sha256:" + strings.ToUpper(h1[7:]) + "]\n"},
		{name: "empty file", file: "  \n", wantErr: "empty file"},
		{name: "not YAML", file: "vendors: [", wantErr: "not a vendor registry"},
		{name: "unknown field", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    key: [" + h1 + "]\n", wantErr: `unknown field "key"`},
		{name: "a list, not an object", file: "- ana@example.com\n", wantErr: "not a vendor registry"},
		{name: "a key instead of its hash", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [sop_uno]\n", wantErr: "this is a key, not its hash"},
		{name: "hash without algorithm", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [" + h1[7:] + "]\n", wantErr: "vendors[0].keys[0]: must be"},
		{name: "short hash", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [sha256:abcd]\n", wantErr: "vendors[0].keys[0]: must be"},
		{name: "bad address", file: "vendors:\n  - email: Ana <ana@example.com>\n    name: Ana\n", wantErr: "vendors[0].email: must be a single address"},
		{name: "address with CRLF", file: "vendors:\n  - email: \"ana@example.com\\r\\nBcc: x@y.cl\"\n    name: Ana\n", wantErr: "vendors[0].email: must be printable ASCII"},
		{name: "no address", file: "vendors:\n  - name: Ana\n", wantErr: "vendors[0].email: must not be empty"},
		{name: "bad cook", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    cooks: [\"a@b.cl, c@d.cl\"]\n", wantErr: "vendors[0].cooks[0]"},
		{name: "same vendor twice, other case", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n  - email: ANA@example.com\n    name: Ana 2\n", wantErr: "vendors[1].email: the same vendor as vendors[0]"},
		{name: "one key for two vendors", file: "vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [" + h1 + "]\n  - email: bea@example.com\n    name: Bea\n    keys: [" + h2 + ", " + h1 + "]\n", wantErr: "vendors[1].keys[1]: the same key is also vendors[0]'s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && regexp.MustCompile(`(?i)(ana|bea|a|c|x)@(example\.com|b\.cl|d\.cl|y\.cl)`).MatchString(err.Error()) {
				t.Errorf("error names an address (errors are logged): %v", err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	keys := make([]string, 4)
	for i := range keys {
		k, _, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	reg, err := File{Vendors: []Vendor{
		{Email: "Ana@Example.com", Name: "Ana", Keys: []string{HashKey(keys[0]), HashKey(keys[1])}, Cooks: []string{"Cocina@Example.com"}},
		{Email: "bea@example.com", Name: "Bea", Keys: []string{HashKey(keys[2])}},
	}}.Registry()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		Vendor string
		OK     bool
	}
	tests := []struct {
		key  string
		want result
	}{
		{keys[0], result{"ana@example.com", true}},
		{keys[1], result{"ana@example.com", true}},
		{keys[2], result{"bea@example.com", true}},
		{keys[3], result{}},
		{"", result{}},
		{HashKey(keys[0]), result{}},
		{keys[0] + " ", result{}},
	}
	for _, tt := range tests {
		g, ok := reg.Authenticate(tt.key)
		if diff := cmp.Diff(tt.want, result{g.Vendor, ok}); diff != "" {
			t.Errorf("Authenticate(key %d chars) (-want, +got):\n%s", len(tt.key), diff)
		}
		if ok && g.Key != sha256.Sum256([]byte(tt.key)) {
			t.Errorf("grant's key is not the key's hash")
		}
	}
	got := []bool{reg.IsVendor("ANA@example.com"), reg.IsVendor("bea@example.com"), reg.IsVendor("cocina@example.com"),
		reg.IsCook("cocina@EXAMPLE.com"), reg.IsCook("ana@example.com")}
	if diff := cmp.Diff([]bool{true, true, false, true, false}, got); diff != "" {
		t.Errorf("IsVendor, IsCook (-want, +got):\n%s", diff)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, hash, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^sop_[A-Za-z0-9_-]{43}$`).MatchString(key) {
			t.Fatalf("key %q is not sop_ and 43 base64url characters (256 bits)", key)
		}
		sum := sha256.Sum256([]byte(key))
		if hash != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("hash %q is not sha256: and the hex SHA-256 of the key", hash)
		}
		if seen[key] {
			t.Fatal("the same key twice")
		}
		seen[key] = true
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(1, 2)
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type answer struct {
		OK   bool
		Wait time.Duration
	}
	var got []answer
	for _, step := range []struct {
		key [32]byte
		at  time.Duration
	}{{a, 0}, {a, 0}, {a, 0}, {b, 0}, {a, 500 * time.Millisecond}, {a, time.Second}} {
		r, ok, wait := l.Reserve(step.key, t0.Add(step.at))
		r.Settle(true, t0.Add(step.at))
		got = append(got, answer{ok, wait})
	}
	want := []answer{{true, 0}, {true, 0}, {false, time.Second}, {true, 0}, {false, 500 * time.Millisecond}, {true, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Reserve (-want, +got):\n%s", diff)
	}
	l.Forget(func(k [32]byte) bool { return k == b })
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after Forget, want 1", len(l.buckets))
	}
	if _, ok, _ := NewLimiter(0, 0).Reserve(a, t0); !ok {
		t.Error("no limit refused a request")
	}
	if got := []int{RetryAfter(0), RetryAfter(time.Millisecond), RetryAfter(1500 * time.Millisecond)}; !cmp.Equal(got, []int{1, 1, 2}) {
		t.Errorf("RetryAfter: %v, want [1 1 2]", got)
	}
}

// TestWatcher: a change is loaded; a broken or missing file keeps the last
// good registry and is logged once; fixing it loads it.
func TestWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vendors.yaml")
	write := func(s string) {
		t.Helper()
		// Written elsewhere and renamed, so a read never sees half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	vendorsFile := func(emails ...string) string {
		s := "vendors:\n"
		for _, e := range emails {
			s += "  - email: " + e + "\n    name: x\n"
		}
		return s
	}
	write(vendorsFile("ana@example.com"))
	var logs logtest.Buffer
	w, err := Watch(path, 5*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFor := func(what string, cond func(*Registry) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond(w.Registry()) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 5 s: %s; logs:\n%s", what, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write(vendorsFile("ana@example.com", "bea@example.com"))
	waitFor("bea added", func(r *Registry) bool { return r.IsVendor("bea@example.com") })

	write("vendors: [") // broken
	waitFor("the broken file logged", func(*Registry) bool { return strings.Contains(logs.String(), "previous one stays in force") })
	if !w.Registry().IsVendor("bea@example.com") {
		t.Error("a broken file replaced the registry")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor("the missing file logged", func(*Registry) bool { return strings.Count(logs.String(), "previous one stays in force") == 2 })
	if !w.Registry().IsVendor("bea@example.com") {
		t.Error("a missing file replaced the registry")
	}
	write(vendorsFile("carla@example.com"))
	waitFor("carla loaded", func(r *Registry) bool { return r.IsVendor("carla@example.com") && !r.IsVendor("bea@example.com") })
	if n := strings.Count(logs.String(), "previous one stays in force"); n != 2 {
		t.Errorf("%d errors logged, want 2 (each once)", n)
	}
}

func TestWatchRefusesAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vendors: ["), 0o600)
	for _, path := range []string{filepath.Join(dir, "missing.yaml"), bad} {
		if w, err := Watch(path, time.Second, slog.New(slog.DiscardHandler)); err == nil {
			w.Close()
			t.Errorf("Watch(%s) started", filepath.Base(path))
		}
	}
	if w, err := Open(Config{}, slog.New(slog.DiscardHandler)); w != nil || err != nil {
		t.Errorf("Open without a file: %v, %v; want nil, nil", w, err)
	}
}
