// Package vendors is the vendor registry: the vendors the business knows,
// each with the hashes of its API keys and the cooks it works with, read
// from a file (VENDORS_FILE, a Kubernetes Secret mounted as a file) and
// reloaded when the file changes.
//
// # File format
//
// YAML (JSON is YAML too). Unknown fields are refused, so a typo cannot
// silently drop a vendor's keys:
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
	"net/mail"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sopaipillas/sopaipillas/events"
)

// KeyPrefix starts every API key, so a leaked key is recognisable (secret
// scanners, logs) and a key is never mistaken for a hash.
const KeyPrefix = "sop_"

// HashPrefix starts every stored key hash: the algorithm, so it can change.
const HashPrefix = "sha256:"

// File is the registry file as written.
type File struct {
	Vendors []Vendor `json:"vendors"`
}

// Vendor is one vendor of the file.
type Vendor struct {
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Keys  []string `json:"keys,omitempty"`
	Cooks []string `json:"cooks,omitempty"`
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
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
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
		if err := CheckAddress(v.Email); err != nil {
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
			if err := CheckAddress(c); err != nil {
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

// CheckAddress accepts one bare ASCII address, as newOrder accepts
// email_vendedor and email_cocinero: at most 254 characters, 64 before the
// @, no display name, no list, no control characters.
func CheckAddress(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 254:
		return errors.New("must be at most 254 characters")
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r >= 0x7f }):
		return errors.New("must be printable ASCII")
	case strings.LastIndexByte(s, '@') > 64:
		return errors.New("must have at most 64 characters before the @")
	}
	a, err := mail.ParseAddress(s)
	if at := strings.LastIndexByte(s, '@'); err != nil || a.Name != "" || a.Address != s || at <= 0 || at == len(s)-1 {
		return errors.New("must be a single address like vendor@example.com")
	}
	return nil
}
