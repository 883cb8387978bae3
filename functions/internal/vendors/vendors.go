// Package vendors is the vendor registry: the vendors the business knows,
// each with the hashes of its API keys and the cooks it works with, read
// from a file (VENDORS_FILE, a Kubernetes Secret mounted as a file) and
// reloaded when the file changes.
//
// # File format
//
// YAML 1.2 (JSON is YAML too). Unknown fields are refused, so a typo
// cannot silently drop a vendor's keys. Every value is the text written:
// an unquoted NO, yes, 012 or 2024-01-02 is that text, never a boolean, a
// number or a date (Decode):
//
//	vendors:
//	  - email: ana@example.com          # the vendor's address, as in email_vendedor
//	    name: Ana Pérez                 # display name, for people
//	    keys:                           # hashes of the vendor's API keys
//	      - sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//	    cooks:                          # optional: the cooks the vendor works with
//	      - cocina.ana@example.com
//
// Addresses are stored and compared in canonical form
// (events.CanonicalEmail: lower case); two vendors with the same canonical
// address, or one key hash listed twice, are refused. A vendor with no keys
// is allowed (it receives its reports but cannot place orders). vendorctl
// (functions/cmd/vendorctl) writes this file and prints each new key once.
//
// # Keys
//
// A key is "sop_" followed by 32 random bytes in unpadded base64url (256
// bits). Only "sha256:" + hex(SHA-256(key)) is stored. A plain, unsalted
// SHA-256 is the right tool for a key of 256 random bits: nobody can invert
// it or search a 2^256 space, so a slow KDF (bcrypt, scrypt, Argon2) would
// add nothing but CPU on every request, and a salt protects against
// precomputed tables of guessable secrets, which a random key is not. (A
// password chosen by a person would need a KDF; keys here are never chosen
// by people.)
package vendors

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sopaipillas/sopaipillas/events"
)

// KeyPrefix starts every API key, so a leaked key is recognisable (secret
// scanners, logs) and a key is never mistaken for a hash.
const KeyPrefix = "sop_"

// HashPrefix starts every stored key hash: the algorithm, so it can change.
const HashPrefix = "sha256:"

// File is the registry file as written.
type File struct {
	Vendors []Vendor `json:"vendors" yaml:"vendors"`
}

// Vendor is one vendor of the file. Every field is text as written
// (UnmarshalYAML).
type Vendor struct {
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Keys  []string `json:"keys,omitempty"`
	Cooks []string `json:"cooks,omitempty"`
}

// Decode reads a registry file as written, without checking it (Parse
// does): YAML 1.2 (JSON is YAML too), unknown fields refused, and every
// value the text written. An unquoted "name: NO" is the name NO, "012" is
// 012: YAML 1.1's booleans, octals and the like are never read into a
// field, and a value that is not text (a list, a map) is refused with its
// line.
func Decode(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return File{}, fmt.Errorf("line %d: a second YAML document: the registry is one", extra.Line)
	}
	return f, nil
}

// UnmarshalYAML reads one vendor: a mapping of email, name, keys and
// cooks, each scalar taken as the text written, whatever YAML would
// resolve it to.
func (v *Vendor) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a vendor must be a mapping of email, name, keys and cooks", n.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: field %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "email":
			v.Email, err = text(k.Value, val)
		case "name":
			v.Name, err = text(k.Value, val)
		case "keys":
			v.Keys, err = texts(k.Value, val)
		case "cooks":
			v.Cooks, err = texts(k.Value, val)
		default:
			err = fmt.Errorf("line %d: unknown field %q (want email, name, keys, cooks)", k.Line, k.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// text is the text a scalar was written as. A plain scalar's text is its
// value, whatever YAML 1.1 or 1.2 would resolve it to (NO, yes, 012,
// 1e3, 2024-01-02, null); nothing written is "".
func text(field string, n *yaml.Node) (string, error) {
	switch {
	case n.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("line %d: %s must be text, not a list, a mapping or an alias", n.Line, field)
	case n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str":
		return "", fmt.Errorf("line %d: %s must be text, not %s", n.Line, field, n.Tag)
	}
	return n.Value, nil
}

// texts is a list of texts; nothing written is no list.
func texts(field string, n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: %s must be a list", n.Line, field)
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		s, err := text(fmt.Sprintf("%s[%d]", field, i), item)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Registry is a loaded, checked registry. It is never modified: a reload
// builds a new one.
type Registry struct {
	vendors map[string]*Vendor // by canonical address
	cooks   map[string]bool
	keys    []keyEntry // every key, scanned whole by Authenticate
	byHash  map[[sha256.Size]byte]int
}

type keyEntry struct {
	sum    [sha256.Size]byte
	vendor string
}

// Grant is what an authenticated key may do: place orders for Vendor.
type Grant struct {
	// Vendor is the canonical address of the key's vendor.
	Vendor string
	// Key is the key's hash, identifying it (for its rate limit) without
	// carrying it.
	Key [sha256.Size]byte
}

// KeyID is a short identifier of the key for logs and vendorctl: the first
// 12 hex digits of its hash. It reveals nothing of the key.
func (g Grant) KeyID() string { return hex.EncodeToString(g.Key[:6]) }

// Parse reads and checks a registry file.
func Parse(data []byte) (*Registry, error) {
	// An empty file is a mistake (a Secret filled with nothing), not a
	// registry of nobody: that is "vendors: []".
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(`empty file: want a "vendors" list ("vendors: []" for none)`)
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("not a vendor registry: %w", err)
	}
	return f.Registry()
}

// Registry checks f and builds its registry.
func (f File) Registry() (*Registry, error) {
	r := &Registry{vendors: map[string]*Vendor{}, cooks: map[string]bool{}}
	// Errors name entries by position, not address: they are logged, and
	// logs carry no full addresses.
	seen := map[[sha256.Size]byte]int{}
	r.byHash = seen
	index := map[string]int{}
	var errs []error
	for i, v := range f.Vendors {
		where := fmt.Sprintf("vendors[%d]", i)
		if err := events.CheckEmail(v.Email); err != nil {
			errs = append(errs, fmt.Errorf("%s.email: %w", where, err))
			continue
		}
		email := events.CanonicalEmail(v.Email)
		if j, dup := index[email]; dup {
			errs = append(errs, fmt.Errorf("%s.email: the same vendor as vendors[%d]", where, j))
			continue
		}
		index[email] = i
		nv := &Vendor{Email: email, Name: v.Name}
		for j, k := range v.Keys {
			sum, err := ParseHash(k)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.keys[%d]: %w", where, j, err))
				continue
			}
			if other, dup := seen[sum]; dup {
				errs = append(errs, fmt.Errorf("%s.keys[%d]: the same key is also vendors[%d]'s", where, j, other))
				continue
			}
			seen[sum] = i
			nv.Keys = append(nv.Keys, FormatHash(sum))
			r.keys = append(r.keys, keyEntry{sum: sum, vendor: email})
		}
		for j, c := range v.Cooks {
			if err := events.CheckEmail(c); err != nil {
				errs = append(errs, fmt.Errorf("%s.cooks[%d]: %w", where, j, err))
				continue
			}
			nv.Cooks = append(nv.Cooks, events.CanonicalEmail(c))
			r.cooks[events.CanonicalEmail(c)] = true
		}
		r.vendors[email] = nv
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Authenticate returns the grant of key, or false. Every stored hash is
// compared, in constant time, whether or not one matched earlier, so the
// time taken says nothing about which key (if any) matched. Comparing hashes
// rather than keys also keeps the key's length and bytes out of the timing.
// Cost: one SHA-256 and a 32-byte comparison per stored key (about 10 µs for
// 1,000 keys).
func (r *Registry) Authenticate(key string) (Grant, bool) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range r.keys {
		eq := subtle.ConstantTimeCompare(sum[:], r.keys[i].sum[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Grant{}, false
	}
	return Grant{Vendor: r.keys[found].vendor, Key: sum}, true
}

// HasKey reports whether the key with hash sum is in the registry.
// It is not constant-time: use it only with hashes of keys that already
// authenticated.
func (r *Registry) HasKey(sum [sha256.Size]byte) bool {
	_, ok := r.byHash[sum]
	return ok
}

// IsVendor reports whether email (any letter case) is a registered vendor.
func (r *Registry) IsVendor(email string) bool {
	_, ok := r.vendors[events.CanonicalEmail(email)]
	return ok
}

// Name returns the display name of the vendor email (any letter case), or
// "" for an address the registry does not know or a vendor without one.
func (r *Registry) Name(email string) string {
	if v, ok := r.vendors[events.CanonicalEmail(email)]; ok {
		return v.Name
	}
	return ""
}

// IsCook reports whether email (any letter case) is listed as a cook of
// some vendor.
func (r *Registry) IsCook(email string) bool {
	return r.cooks[events.CanonicalEmail(email)]
}

// Vendors is the number of vendors; Keys the number of keys.
func (r *Registry) Vendors() int { return len(r.vendors) }

// Keys is the number of keys in the registry.
func (r *Registry) Keys() int { return len(r.keys) }

// NewKey returns a new random key and its hash as stored. The key is
// shown once to whoever hands it to the vendor; only the hash is kept.
func NewKey() (key, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// HashKey is the stored form of key.
func HashKey(key string) string {
	return FormatHash(sha256.Sum256([]byte(key)))
}

// FormatHash is the stored form of a key's SHA-256.
func FormatHash(sum [sha256.Size]byte) string {
	return HashPrefix + hex.EncodeToString(sum[:])
}

// ParseHash reads a stored key hash: "sha256:" and 64 hex digits.
func ParseHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if strings.HasPrefix(s, KeyPrefix) {
		return sum, errors.New("this is a key, not its hash: store only the hash (vendorctl prints it), and treat the key as leaked")
	}
	h, ok := strings.CutPrefix(s, HashPrefix)
	if !ok {
		return sum, fmt.Errorf("must be %q followed by 64 hex digits", HashPrefix)
	}
	b, err := hex.DecodeString(strings.ToLower(h))
	if err != nil || len(b) != sha256.Size {
		return sum, fmt.Errorf("must be %q followed by 64 hex digits", HashPrefix)
	}
	copy(sum[:], b)
	return sum, nil
}

// KeyIDOfHash is the short identifier (Grant.KeyID) of a stored hash.
func KeyIDOfHash(hash string) string {
	sum, err := ParseHash(hash)
	if err != nil {
		return "?"
	}
	return Grant{Key: sum}.KeyID()
}
