package neworder

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/logtest"
	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
)

// seedVendor is the vendor of seedOrder; otherVendor has a key too.
const (
	seedVendor  = "vendor_tarea2@yopmail.com"
	otherVendor = "otra.vendedora@example.com"
)

// testKeys are keys of the test registry, made once.
type testKeys struct {
	seed, seed2, other, revoked string
}

func newKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	for _, p := range []*string{&k.seed, &k.seed2, &k.other, &k.revoked} {
		key, _, err := vendors.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		*p = key
	}
	return k
}

// registryOf is the registry of keys: the seed's vendor with two keys (one
// written in another letter case in the file), the other vendor with one;
// revoked is in no file.
func registryOf(t *testing.T, k testKeys) *vendors.Registry {
	t.Helper()
	reg, err := vendors.File{Vendors: []vendors.Vendor{
		{Email: "Vendor_Tarea2@YOPMAIL.com", Name: "Vendedor de prueba", Keys: []string{vendors.HashKey(k.seed), vendors.HashKey(k.seed2)}},
		{Email: otherVendor, Name: "Otra", Keys: []string{vendors.HashKey(k.other)}},
	}}.Registry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// clock is a settable clock for the rate limit.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newAuthServer is newOrder with reg's keys required, perSecond and burst
// per key, on a loopback port; logs go to logs.
func newAuthServer(t *testing.T, pub Publisher, reg func() *vendors.Registry, perSecond float64, burst int, clk *clock, logs *bytes.Buffer) *httptest.Server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := New(pub, testTopic, time.Minute, func() time.Time { return acceptedAt }, log)
	f.SetAuthorizer(NewVendorAuth(reg, vendors.NewLimiter(perSecond, burst), clk.Now, log))
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func withAuth(h http.Header, values ...string) http.Header {
	h = h.Clone()
	for _, v := range values {
		h.Add("Authorization", v)
	}
	return h
}

func orderFor(vendor string) []byte {
	return []byte(strings.Replace(seedOrder, seedVendor, vendor, 1))
}

func TestAuthStatuses(t *testing.T) {
	k := newKeys(t)
	j := jsonHeader()
	ce := binaryHeader("application/json", ceHeaders...)
	tests := []struct {
		name      string      // what the caller sends
		header    http.Header // request headers
		body      []byte      // request body
		status    int         // the answer
		challenge string      // WWW-Authenticate
		fields    []string    // errors[].field of a problem body
		detail    string      // errors[0].detail, when set
	}{
		{name: "own vendor", header: withAuth(j, "Bearer "+k.seed), body: []byte(seedOrder), status: 201},
		{name: "own vendor, second key", header: withAuth(j, "Bearer "+k.seed2), body: []byte(seedOrder), status: 201},
		{name: "own vendor in another letter case", header: withAuth(j, "Bearer "+k.seed), body: orderFor("VENDOR_tarea2@yopmail.COM"), status: 201},
		{name: "scheme in lower case", header: withAuth(j, "bearer "+k.seed), body: []byte(seedOrder), status: 201},
		{name: "binary CloudEvent, own vendor", header: withAuth(ce, "Bearer "+k.seed), body: []byte(seedOrder), status: 201},

		{name: "no Authorization", header: j, body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"}, detail: "missing, or not a Bearer token"},
		{name: "empty Authorization", header: withAuth(j, ""), body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"}},
		{name: "Bearer without a key", header: withAuth(j, "Bearer "), body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"}},
		{name: "key without Bearer", header: withAuth(j, k.seed), body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"}},
		{name: "key as Basic", header: withAuth(j, "Basic "+k.seed), body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"}},
		{name: "two Authorization headers, one good", header: withAuth(j, "Bearer "+k.seed, "Bearer "+k.other), body: []byte(seedOrder), status: 401, challenge: realm, fields: []string{"Authorization"},
			detail: "sent more than once: send one Authorization field"},
		{name: "wrong key", header: withAuth(j, "Bearer sop_"+strings.Repeat("A", 43)), body: []byte(seedOrder), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},
		{name: "revoked key", header: withAuth(j, "Bearer "+k.revoked), body: []byte(seedOrder), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},
		{name: "key in another letter case", header: withAuth(j, "Bearer "+strings.ToUpper(k.seed)), body: []byte(seedOrder), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},
		{name: "key with a character less", header: withAuth(j, "Bearer "+k.seed[:len(k.seed)-1]), body: []byte(seedOrder), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},
		{name: "the stored hash instead of the key", header: withAuth(j, "Bearer "+vendors.HashKey(k.seed)), body: []byte(seedOrder), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},
		{name: "wrong key, bad body", header: withAuth(j, "Bearer nope"), body: []byte("not json"), status: 401, challenge: realm + `, error="invalid_token"`, fields: []string{"Authorization"}},

		{name: "key of another vendor", header: withAuth(j, "Bearer "+k.other), body: []byte(seedOrder), status: 403, fields: []string{"email_vendedor"}},
		{name: "key of another vendor, binary CloudEvent", header: withAuth(ce, "Bearer "+k.other), body: []byte(seedOrder), status: 403, fields: []string{"email_vendedor"}},
		{name: "key of another vendor, structured CloudEvent", header: withAuth(http.Header{"Content-Type": {"application/cloudevents+json"}}, "Bearer "+k.other),
			body: []byte(`{"specversion":"1.0","id":"c","source":"/c","type":"` + events.TypeOrderCreated + `","datacontenttype":"application/json","data":` + seedOrder + `}`), status: 403, fields: []string{"email_vendedor"}},
		{name: "key of a vendor, order for an unregistered address", header: withAuth(j, "Bearer "+k.seed), body: orderFor("nadie@example.com"), status: 403, fields: []string{"email_vendedor"}},
		{name: "key of a vendor, invalid order for another", header: withAuth(j, "Bearer "+k.other), body: []byte(`{"order_id":0}`), status: 422,
			fields: []string{"email_cocinero", "email_vendedor", "numero_sopaipillas", "order_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			var logs bytes.Buffer
			reg := registryOf(t, k)
			srv := newAuthServer(t, pub, func() *vendors.Registry { return reg }, 1, 10, &clock{t: acceptedAt}, &logs)

			status, header, body := post(t, srv, "/newOrder", tt.header, tt.body)

			if status != tt.status {
				t.Fatalf("status %d, want %d; body %s", status, tt.status, body)
			}
			if got := header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			wantSent := 0
			if status == http.StatusCreated {
				wantSent = 1
			} else {
				if got := header.Get("Content-Type"); got != problem.ContentType {
					t.Errorf("Content-Type %q, want %q", got, problem.ContentType)
				}
				var p problem.Details
				if err := json.Unmarshal(body, &p); err != nil || p.Status != status {
					t.Fatalf("problem body %s: %+v, %v", body, p, err)
				}
				var got []string
				for _, e := range p.Errors {
					got = append(got, e.Field)
				}
				if diff := cmp.Diff(tt.fields, got); diff != "" {
					t.Errorf("errors[].field (-want, +got):\n%s", diff)
				}
				if tt.detail != "" && (len(p.Errors) == 0 || p.Errors[0].Detail != tt.detail) {
					t.Errorf("errors %+v, want the first detail %q", p.Errors, tt.detail)
				}
			}
			if n := len(pub.Sent()); n != wantSent {
				t.Errorf("%d events published, want %d", n, wantSent)
			}
			for _, key := range []string{k.seed, k.seed2, k.other, k.revoked} {
				if strings.Contains(logs.String(), key) || strings.Contains(string(body), key) {
					t.Errorf("a key is in the logs or the answer:\n%s\n%s", logs.String(), body)
				}
			}
		})
	}
}

func TestRateLimitPerKey(t *testing.T) {
	k := newKeys(t)
	pub := &fakePublisher{}
	reg := registryOf(t, k)
	clk := &clock{t: acceptedAt}
	// 0.5 orders a second, 3 at once.
	srv := newAuthServer(t, pub, func() *vendors.Registry { return reg }, 0.5, 3, clk, nil)
	send := func(key string) (int, string) {
		status, header, _ := post(t, srv, "/newOrder", withAuth(jsonHeader(), "Bearer "+key), []byte(seedOrder))
		return status, header.Get("Retry-After")
	}
	type answer struct {
		Status     int
		RetryAfter string
	}
	var got []answer
	for range 4 {
		s, ra := send(k.seed)
		got = append(got, answer{s, ra})
	}
	// Another key of the same vendor has its own bucket.
	s, ra := send(k.seed2)
	got = append(got, answer{s, ra})
	// Refused requests take no token: after 2 s there is exactly one.
	clk.Add(2 * time.Second)
	for range 2 {
		s, ra := send(k.seed)
		got = append(got, answer{s, ra})
	}
	want := []answer{{201, ""}, {201, ""}, {201, ""}, {429, "2"}, {201, ""}, {201, ""}, {429, "2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want, +got):\n%s", diff)
	}
	if n := len(pub.Sent()); n != 5 {
		t.Errorf("%d events published, want 5 (one per 201)", n)
	}
}

// TestHostileRequestsWithRegistry repeats the hostile table with the
// registry on: with the vendor's key each case gets what it gets without a
// registry; without a key, with a wrong key, or past the key's rate, every
// case is 401 or 429; the other vendor's key never gets further than the
// same 4xx. Nothing is ever published.
func TestHostileRequestsWithRegistry(t *testing.T) {
	k := newKeys(t)
	reg := registryOf(t, k)
	cases := hostileCases(t)
	type variant struct {
		name   string
		auth   []string // Authorization values
		burst  int      // of the key's bucket, spent before the table when 1
		status func(hostileCase) int
		fields func(hostileCase) []string
	}
	auth := func(hostileCase) []string { return []string{"Authorization"} }
	as := func(tt hostileCase) int { return tt.status }
	asFields := func(tt hostileCase) []string { return tt.fields }
	for _, v := range []variant{
		{name: "vendor's key", auth: []string{"Bearer " + k.seed}, status: as, fields: asFields},
		{name: "other vendor's key", auth: []string{"Bearer " + k.other}, status: as, fields: asFields},
		{name: "no key", status: func(hostileCase) int { return 401 }, fields: auth},
		{name: "wrong key", auth: []string{"Bearer " + k.revoked}, status: func(hostileCase) int { return 401 }, fields: auth},
		{name: "key over its rate", auth: []string{"Bearer " + k.seed}, burst: 1, status: func(hostileCase) int { return 429 }, fields: func(hostileCase) []string { return nil }},
	} {
		t.Run(v.name, func(t *testing.T) {
			pub := &fakePublisher{}
			rate, burst := 1000.0, 1000
			if v.burst == 1 {
				rate, burst = 0.001, 1
			}
			srv := newAuthServer(t, pub, func() *vendors.Registry { return reg }, rate, burst, &clock{t: acceptedAt}, nil)
			if v.burst == 1 {
				if status, _, body := post(t, srv, "/newOrder", withAuth(jsonHeader(), v.auth...), []byte(seedOrder)); status != 201 {
					t.Fatalf("first order: %d %s", status, body)
				}
			}
			before := len(pub.Sent())
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					status, header, body := post(t, srv, "/newOrder", withAuth(tt.header, v.auth...), tt.body)
					if want := v.status(tt); status != want {
						t.Errorf("status %d, want %d; body %.300s", status, want, body)
					}
					if got := header.Get("Content-Type"); got != problem.ContentType {
						t.Errorf("Content-Type %q, want %q", got, problem.ContentType)
					}
					var p problem.Details
					if err := json.Unmarshal(body, &p); err != nil {
						t.Fatalf("problem body %.300s: %v", body, err)
					}
					var got []string
					for _, e := range p.Errors {
						got = append(got, e.Field)
					}
					if diff := cmp.Diff(v.fields(tt), got, cmpEmptyNil); diff != "" {
						t.Errorf("errors[].field (-want, +got):\n%s", diff)
					}
					if n := len(pub.Sent()) - before; n != 0 {
						t.Fatalf("%d events published after a rejected request, want 0", n)
					}
				})
			}
		})
	}
}

var cmpEmptyNil = cmp.Transformer("nilEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

// TestKeyRotatedInFile rotates the seed vendor's key in the registry file,
// as Kubernetes updates a mounted Secret (a new directory and a symlink
// swap), and waits for newOrder to take the new key and refuse the old one
// without a restart.
func TestKeyRotatedInFile(t *testing.T) {
	dir := t.TempDir()
	oldKey, oldHash, _ := vendors.NewKey()
	newKey, newHash, _ := vendors.NewKey()
	// The Secret's layout: vendors.yaml -> ..data/vendors.yaml, ..data -> ..<version>.
	write := func(version, hash string) {
		vdir := filepath.Join(dir, ".."+version)
		if err := os.Mkdir(vdir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := "vendors:\n  - email: " + seedVendor + "\n    name: Prueba\n    keys:\n      - " + hash + "\n"
		if err := os.WriteFile(filepath.Join(vdir, "vendors.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(".."+version, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("v1", oldHash)
	if err := os.Symlink(filepath.Join("..data", "vendors.yaml"), filepath.Join(dir, "vendors.yaml")); err != nil {
		t.Fatal(err)
	}

	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	authz, stop, err := openAuth(AuthConfig{Config: vendors.Config{File: filepath.Join(dir, "vendors.yaml"), ReloadInterval: 10 * time.Millisecond}, RatePerKey: 1000, BurstPerKey: 1000}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop.Close() })
	pub := &fakePublisher{}
	f := New(pub, testTopic, time.Minute, func() time.Time { return acceptedAt }, log)
	f.SetAuthorizer(authz)
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	statusWith := func(key string) int {
		status, _, _ := post(t, srv, "/newOrder", withAuth(jsonHeader(), "Bearer "+key), []byte(seedOrder))
		return status
	}
	if got := []int{statusWith(oldKey), statusWith(newKey)}; !cmp.Equal(got, []int{201, 401}) {
		t.Fatalf("before the rotation: old key, new key answered %v, want [201 401]", got)
	}

	write("v2", newHash)

	deadline := time.Now().Add(10 * time.Second)
	for {
		got := []int{statusWith(oldKey), statusWith(newKey)}
		if cmp.Equal(got, []int{401, 201}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the rotation: old key, new key answered %v, want [401 201]; logs:\n%s", got, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, key := range []string{oldKey, newKey} {
		if strings.Contains(logs.String(), key) {
			t.Errorf("a key is in the logs:\n%s", logs.String())
		}
	}
}

func TestOpenWithoutRegistry(t *testing.T) {
	var logs bytes.Buffer
	authz, stop, err := openAuth(AuthConfig{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop.Close()
	if authz != nil {
		t.Errorf("authorizer %v without a registry, want none", authz)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "newOrder is open") {
		t.Errorf("no warning that newOrder is open:\n%s", logs.String())
	}
	pub := &fakePublisher{}
	f := New(pub, testTopic, time.Minute, func() time.Time { return acceptedAt }, slog.New(slog.DiscardHandler))
	f.SetAuthorizer(authz)
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	if status, _, body := post(t, srv, "/newOrder", jsonHeader(), []byte(seedOrder)); status != http.StatusCreated {
		t.Errorf("the seed's curl without a registry: %d %s, want 201", status, body)
	}
}

func TestRegistryMissingStopsStart(t *testing.T) {
	_, _, err := openAuth(AuthConfig{Config: vendors.Config{File: filepath.Join(t.TempDir(), "nope.yaml"), ReloadInterval: time.Second}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "VENDORS_FILE") {
		t.Errorf("error %v, want one naming VENDORS_FILE", err)
	}
}
