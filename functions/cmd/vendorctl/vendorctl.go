package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

const usage = `usage:
  vendorctl add    --file FILE --email ADDRESS [--name NAME] [--cook ADDRESS]...
  vendorctl revoke --file FILE --email ADDRESS (--key-id ID | --all)
  vendorctl list   --file FILE
  vendorctl check  --file FILE`

// run is vendorctl with its arguments; out gets only what a script wants
// (the new key), errOut the rest.
func run(args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	fl := flag.NewFlagSet("vendorctl "+cmd, flag.ContinueOnError)
	fl.SetOutput(errOut)
	file := fl.String("file", "", "the registry file (VENDORS_FILE)")
	email := fl.String("email", "", "the vendor's address")
	name := fl.String("name", "", "the vendor's display name")
	keyID := fl.String("key-id", "", "the key to revoke, as list shows it")
	all := fl.Bool("all", false, "revoke every key of the vendor")
	var cooks []string
	fl.Func("cook", "an address of a cook the vendor works with (repeatable)", func(s string) error {
		cooks = append(cooks, s)
		return nil
	})
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file is required")
	}
	f, err := read(*file, cmd == "add")
	if err != nil {
		return err
	}
	switch cmd {
	case "add":
		key, err := add(&f, *email, *name, cooks)
		if err != nil {
			return err
		}
		if err := write(*file, f); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "added key %s for %s in %s. The key, shown this once (hand it to the vendor; it is not stored):\n",
			vendors.KeyIDOfHash(vendors.HashKey(key)), events.CanonicalEmail(*email), *file)
		fmt.Fprintln(out, key)
		return nil
	case "revoke":
		n, err := revoke(&f, *email, *keyID, *all)
		if err != nil {
			return err
		}
		if err := write(*file, f); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "revoked %d key(s) of %s in %s\n", n, events.CanonicalEmail(*email), *file)
		return nil
	case "list":
		for _, v := range f.Vendors {
			ids := make([]string, len(v.Keys))
			for i, k := range v.Keys {
				ids[i] = vendors.KeyIDOfHash(k)
			}
			fmt.Fprintf(out, "%s\t%s\tkeys: %s\tcooks: %s\n", v.Email, v.Name, strings.Join(ids, " "), strings.Join(v.Cooks, " "))
		}
		return nil
	case "check":
		reg, err := f.Registry()
		if err != nil {
			return err
		}
		fmt.Fprintf(errOut, "%s: %d vendors, %d keys\n", *file, reg.Vendors(), reg.Keys())
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// read loads the file as written; a missing file is an empty registry when
// create is set.
func read(path string, create bool) (vendors.File, error) {
	var f vendors.File
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if _, err := vendors.Parse(data); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return vendors.Decode(data)
}

// add gives the vendor of email a new key, adding the vendor if it is not
// in f, and returns the key.
func add(f *vendors.File, email, name string, cooks []string) (string, error) {
	if err := events.CheckEmail(email); err != nil {
		return "", fmt.Errorf("--email %w", err)
	}
	email = events.CanonicalEmail(email)
	i := slices.IndexFunc(f.Vendors, func(v vendors.Vendor) bool { return events.CanonicalEmail(v.Email) == email })
	if i < 0 {
		if name == "" {
			return "", errors.New("--name is required for a new vendor")
		}
		f.Vendors = append(f.Vendors, vendors.Vendor{Email: email})
		i = len(f.Vendors) - 1
	}
	v := &f.Vendors[i]
	if name != "" {
		v.Name = name
	}
	for _, c := range cooks {
		if err := events.CheckEmail(c); err != nil {
			return "", fmt.Errorf("--cook %w", err)
		}
		if c = events.CanonicalEmail(c); !slices.Contains(v.Cooks, c) {
			v.Cooks = append(v.Cooks, c)
		}
	}
	key, hash, err := vendors.NewKey()
	if err != nil {
		return "", err
	}
	v.Keys = append(v.Keys, hash)
	if _, err := f.Registry(); err != nil {
		return "", err
	}
	return key, nil
}

// revoke removes the vendor's key keyID, or all its keys, and returns how
// many it removed.
func revoke(f *vendors.File, email, keyID string, all bool) (int, error) {
	if (keyID == "") == !all {
		return 0, errors.New("give either --key-id or --all")
	}
	email = events.CanonicalEmail(email)
	i := slices.IndexFunc(f.Vendors, func(v vendors.Vendor) bool { return events.CanonicalEmail(v.Email) == email })
	if i < 0 {
		return 0, errors.New("no such vendor in the file")
	}
	v := &f.Vendors[i]
	before := len(v.Keys)
	v.Keys = slices.DeleteFunc(v.Keys, func(h string) bool { return all || vendors.KeyIDOfHash(h) == strings.ToLower(keyID) })
	if n := before - len(v.Keys); n > 0 || all {
		return n, nil
	}
	return 0, fmt.Errorf("the vendor has no key %s", keyID)
}

// write replaces the file atomically: a reader (newOrder polling a local
// file) sees the old content or the new, never half of it.
func write(path string, f vendors.File) error {
	data, err := format(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// format writes f as YAML in the documented field order (email, name, keys,
// cooks); every string is a JSON string, which YAML reads as it is.
func format(f vendors.File) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# The vendor registry (VENDORS_FILE): README, \"Vendors and API keys\".\n")
	b.WriteString("# Edit it with vendorctl. Keys are stored only as hashes.\n")
	if len(f.Vendors) == 0 {
		b.WriteString("vendors: []\n")
		return []byte(b.String()), nil
	}
	b.WriteString("vendors:\n")
	q := func(s string) string {
		var j strings.Builder
		enc := json.NewEncoder(&j)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s) // a string always encodes
		return strings.TrimSuffix(j.String(), "\n")
	}
	list := func(name string, items []string) {
		if len(items) == 0 {
			return
		}
		b.WriteString("    " + name + ":\n")
		for _, it := range items {
			b.WriteString("      - " + q(it) + "\n")
		}
	}
	for i, v := range f.Vendors {
		// As read back: an empty list is no list.
		f.Vendors[i].Keys, f.Vendors[i].Cooks = slices.Clip(nilIfEmpty(v.Keys)), slices.Clip(nilIfEmpty(v.Cooks))
		b.WriteString("  - email: " + q(v.Email) + "\n")
		b.WriteString("    name: " + q(v.Name) + "\n")
		list("keys", v.Keys)
		list("cooks", v.Cooks)
	}
	// What is written must read back as the same registry.
	back, err := vendors.Decode([]byte(b.String()))
	if err != nil || !reflect.DeepEqual(back, f) {
		return nil, fmt.Errorf("formatting the registry: it does not read back as written (%v)", err)
	}
	return []byte(b.String()), nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
