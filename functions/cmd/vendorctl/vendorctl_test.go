package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// vendorctl runs the command and returns its stdout.
func vendorctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), err
}

func TestAddRotateRevoke(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vendors.yaml")
	add := func(args ...string) string {
		t.Helper()
		out, err := vendorctl(t, append([]string{"add", "--file", file}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	ana1 := add("--email", "Ana@Example.com", "--name", `Ana "la" <Pérez>`, "--cook", "Cocina@Example.com")
	bea := add("--email", "bea@example.com", "--name", "Bea")
	ana2 := add("--email", "ana@example.com", "--cook", "cocina@example.com", "--cook", "otra.cocina@example.com")

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{ana1, ana2, bea} {
		if !strings.HasPrefix(k, vendors.KeyPrefix) || strings.Contains(string(data), k) {
			t.Fatalf("key %q printed wrong, or written to the file:\n%s", k, data)
		}
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", info.Mode().Perm())
	}
	reg, err := vendors.Load(file)
	if err != nil {
		t.Fatalf("the written file does not load: %v\n%s", err, data)
	}
	who := func(key string) string { g, _ := reg.Authenticate(key); return g.Vendor }
	got := []string{who(ana1), who(ana2), who(bea)}
	if diff := cmp.Diff([]string{"ana@example.com", "ana@example.com", "bea@example.com"}, got); diff != "" {
		t.Errorf("vendors of the keys (-want, +got):\n%s", diff)
	}
	if !reg.IsCook("otra.cocina@example.com") || !reg.IsCook("cocina@example.com") {
		t.Errorf("cooks not registered:\n%s", data)
	}
	if !strings.Contains(string(data), `name: "Ana \"la\" <Pérez>"`) {
		t.Errorf("name not kept as given:\n%s", data)
	}

	list, err := vendorctl(t, "list", "--file", file)
	if err != nil {
		t.Fatal(err)
	}
	id1 := vendors.KeyIDOfHash(vendors.HashKey(ana1))
	if !strings.Contains(list, id1) {
		t.Fatalf("list does not show key id %s:\n%s", id1, list)
	}
	if _, err := vendorctl(t, "revoke", "--file", file, "--email", "ANA@example.com", "--key-id", id1); err != nil {
		t.Fatal(err)
	}
	reg, err = vendors.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	got = []string{who(ana1), who(ana2), who(bea)}
	if diff := cmp.Diff([]string{"", "ana@example.com", "bea@example.com"}, got); diff != "" {
		t.Errorf("after revoking the first key (-want, +got):\n%s", diff)
	}
	if _, err := vendorctl(t, "revoke", "--file", file, "--email", "bea@example.com", "--all"); err != nil {
		t.Fatal(err)
	}
	reg, _ = vendors.Load(file)
	if who(bea) != "" || !reg.IsVendor("bea@example.com") {
		t.Errorf("--all: bea's key still works, or bea is gone")
	}
	if _, err := vendorctl(t, "check", "--file", file); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vendors.yaml")
	if _, err := vendorctl(t, "add", "--file", file, "--email", "ana@example.com", "--name", "Ana"); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("vendors:\n  - email: ana@example.com\n    name: Ana\n    keys: [sop_a-key-pasted-here]\n"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "usage"},
		{[]string{"frob", "--file", file}, "unknown command"},
		{[]string{"add", "--email", "ana@example.com"}, "--file is required"},
		{[]string{"add", "--file", file, "--email", "nueva@example.com"}, "--name is required"},
		{[]string{"add", "--file", file, "--email", "Ana <ana@example.com>", "--name", "x"}, "--email must be"},
		{[]string{"add", "--file", file, "--email", "ana@example.com", "--cook", "a@b.cl\r\nBcc: x@y.cl"}, "--cook must not contain control characters"},
		{[]string{"revoke", "--file", file, "--email", "ana@example.com"}, "either --key-id or --all"},
		{[]string{"revoke", "--file", file, "--email", "nadie@example.com", "--all"}, "no such vendor"},
		{[]string{"revoke", "--file", file, "--email", "ana@example.com", "--key-id", "000000000000"}, "has no key"},
		{[]string{"list", "--file", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"check", "--file", broken}, "this is a key, not its hash"},
		{[]string{"add", "--file", broken, "--email", "b@example.com", "--name", "B"}, "this is a key, not its hash"},
	} {
		_, err := vendorctl(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("vendorctl %q: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// TestKeepsNamesWritten: a file edited by hand with unquoted names that
// YAML 1.1 reads as something else (NO as false, 012 as 10) keeps them
// through vendorctl add and revoke: a name is rewritten only by --name.
func TestKeepsNamesWritten(t *testing.T) {
	names := []string{"NO", "yes", "012", "0x1F", "1e3", "~", "null", "2001-12-14", "On", ".inf", "190:20:30"}
	var b strings.Builder
	b.WriteString("vendors:\n")
	for i, n := range names {
		fmt.Fprintf(&b, "  - email: v%d@example.com\n    name: %s\n", i, n)
	}
	file := filepath.Join(t.TempDir(), "vendors.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vendorctl(t, "add", "--file", file, "--email", "nueva@example.com", "--name", "false"); err != nil {
		t.Fatal(err)
	}
	if _, err := vendorctl(t, "add", "--file", file, "--email", "v0@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := vendorctl(t, "revoke", "--file", file, "--email", "v0@example.com", "--all"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vendors.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range f.Vendors {
		got = append(got, v.Name)
	}
	if diff := cmp.Diff(append(names, "false"), got); diff != "" {
		t.Errorf("names after add and revoke (-want, +got):\n%s\nfile:\n%s", diff, data)
	}
}
