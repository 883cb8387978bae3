package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// entryPoints are the functions as their binaries set them up (Setup on
// an embedded Kafka, configured from the environment): newOrder open and
// newOrder with a vendor registry, dailySummary and salesBoard with a
// token. The one key is the vendor's API key, SUMMARY_TOKEN and
// BOARD_TOKEN alike, so one credential corpus has one verdict.
type entryPoints struct {
	open, keyed, summary, board, mail http.Handler
	key                               string
}

const corpusVendor = "vendor@example.com"

func setUpEntryPoints(t *testing.T) entryPoints {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	key, hash, err := vendors.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(t.TempDir(), "vendors.yaml")
	if err := os.WriteFile(registry, []byte("vendors:\n  - email: "+corpusVendor+"\n    name: V\n    keys: ["+hash+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(cluster.ListenAddrs(), ","), "SUMMARY_TOKEN": key, "BOARD_TOKEN": key,
		"VENDORS_FILE": "", "ORDER_RATE_PER_KEY": "0",
		"MAIL_FROM": "reportes@example.com", "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "1",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	var e entryPoints
	e.key = key
	setUp := func(setup func() (http.Handler, io.Closer, error)) http.Handler {
		t.Helper()
		h, c, err := setup()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return h
	}
	var no neworder.Config
	var ds dailysummary.Config
	var sb salesboard.Config
	var sm sendmail.Config
	for _, cfg := range []any{&no, &ds, &sb, &sm} {
		if err := envconfig.Process("", cfg); err != nil {
			t.Fatal(err)
		}
	}
	e.open = setUp(func() (http.Handler, io.Closer, error) { return neworder.Setup(ctx, no, log) })
	no.File = registry
	e.keyed = setUp(func() (http.Handler, io.Closer, error) { return neworder.Setup(ctx, no, log) })
	e.summary = setUp(func() (http.Handler, io.Closer, error) { return dailysummary.Setup(ctx, ds, log) })
	e.board = setUp(func() (http.Handler, io.Closer, error) { return salesboard.Setup(ctx, sb, log) })
	e.mail = setUp(func() (http.Handler, io.Closer, error) { return sendmail.Setup(ctx, sm, log) })
	return e
}

func serve(h http.Handler, method, path string, header http.Header, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// fieldsOf is the errors[].field of a problem body.
func fieldsOf(body []byte) []string {
	var p struct {
		Errors []events.FieldError `json:"errors"`
	}
	_ = json.Unmarshal(body, &p)
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

// TestAddressVerdictEverywhere: one corpus of addresses (addressCorpus:
// the ones that once split the entry points, and generated ones) gets the
// verdict of events.CheckEmail at every entry point that takes an
// address: newOrder (email_vendedor and email_cocinero), the vendor
// registry (a vendor's and a cook's address), vendorctl add (--email,
// --cook) and sendMail's MAIL_FROM.
func TestAddressVerdictEverywhere(t *testing.T) {
	e := setUpEntryPoints(t)
	corpus := addressCorpus(400)
	vendorctl := buildVendorctl(t)
	for i, a := range corpus {
		want := events.CheckEmail(a) == nil
		if events.CheckEmail(events.CanonicalEmail(a)) != nil && want {
			t.Fatalf("%q: valid, and invalid in lower case", a)
		}
		q, _ := json.Marshal(a)
		got := map[string]bool{}

		order := fmt.Sprintf(`{"order_id": %d, "email_vendedor": %s, "email_cocinero": %s, "numero_sopaipillas": 1}`, 1000+i, q, q)
		w := serve(e.open, http.MethodPost, "/newOrder", http.Header{"Content-Type": {"application/json"}}, order)
		switch fields := strings.Join(fieldsOf(w.Body.Bytes()), ","); {
		case w.Code == http.StatusCreated:
			got["newOrder"] = true
		case w.Code == http.StatusUnprocessableEntity && fields == "email_cocinero,email_vendedor":
			got["newOrder"] = false
		default:
			t.Fatalf("newOrder %q: %d %s", a, w.Code, w.Body)
		}

		_, err := vendors.Parse([]byte(`{"vendors":[{"email":` + string(q) + `,"name":"V"}]}`))
		got["registry, vendor"] = err == nil
		_, err = vendors.Parse([]byte(`{"vendors":[{"email":"v@example.com","name":"V","cooks":[` + string(q) + `]}]}`))
		got["registry, cook"] = err == nil

		if i < 60 { // a report sendMail tries to mail (to a closed port)
			got["sendMail report"] = reportAccepted(t, e.mail, i, events.CanonicalEmail(a))
		}
		if i < 120 { // a process each: the fixed corpus and some generated
			got["vendorctl --email"] = vendorctl("--email", a) == nil
			got["vendorctl --cook"] = vendorctl("--email", "v@example.com", "--cook", a) == nil
			got["sendMail MAIL_FROM"] = mailFromAccepted(t, a)
		}
		for where, ok := range got {
			if ok != want {
				t.Errorf("%q: %s says valid=%v, events.CheckEmail valid=%v", a, where, ok, want)
			}
		}
	}
}

// reportAccepted delivers to sendMail a day's summary for vendor a and
// reports whether it passed validation: anything but 422 naming the
// vendor (sending it then fails: the SMTP port is closed).
func reportAccepted(t *testing.T, mail http.Handler, i int, a string) bool {
	t.Helper()
	// Today (UTC): sendMail mails only the days its ledger keeps.
	data, _ := json.Marshal(map[string]any{"fecha": time.Now().UTC().Format("02/01/2006"), "ventas": map[string]any{a: map[string]int{"n_sopaipillas": 2, "n_ordenes": 1}}})
	h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {fmt.Sprintf("corpus-%d", i)}, "Ce-Source": {"/corpus"},
		"Ce-Type": {events.TypeSummaryCreated}, "Content-Type": {"application/json"}}
	w := serve(mail, http.MethodPost, "/", h, string(data))
	fields := fieldsOf(w.Body.Bytes())
	if w.Code == http.StatusUnprocessableEntity {
		if len(fields) != 1 || !strings.HasPrefix(fields[0], "ventas[") {
			t.Fatalf("sendMail report for %q: 422 %s", a, w.Body)
		}
		return false
	}
	return true
}

// buildVendorctl builds vendorctl and returns a runner of its add command
// on a new file.
func buildVendorctl(t *testing.T) func(args ...string) error {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "vendorctl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sopaipillas/sopaipillas/functions/cmd/vendorctl").CombinedOutput(); err != nil {
		t.Fatalf("go build vendorctl: %v\n%s", err, out)
	}
	n := 0
	return func(args ...string) error {
		n++
		file := filepath.Join(dir, fmt.Sprintf("vendors-%d.yaml", n))
		return exec.Command(bin, append([]string{"add", "--file", file, "--name", "V"}, args...)...).Run()
	}
}

// mailFromAccepted reports whether sendMail's Setup takes a as MAIL_FROM:
// with no mail backend it stops at the next step, naming MAIL_BACKEND.
func mailFromAccepted(t *testing.T, a string) bool {
	t.Helper()
	var cfg sendmail.Config
	t.Setenv("MAIL_FROM", "x@example.com")
	if err := envconfig.Process("", &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.From, cfg.Backend = a, "none"
	_, _, err := sendmail.Setup(context.Background(), cfg, slog.New(slog.DiscardHandler))
	switch {
	case err != nil && strings.Contains(err.Error(), "MAIL_FROM"):
		return false
	case err != nil && strings.Contains(err.Error(), "MAIL_BACKEND"):
		return true
	}
	t.Fatalf("sendMail Setup with MAIL_FROM %q: %v", a, err)
	return false
}

// credentialGrammar is RFC 9110 §11.4 with RFC 6750's token written as a
// regular expression: the oracle of the credential corpus, sharing no
// code with package bearer.
var credentialGrammar = regexp.MustCompile(`^[ \t]*(?i:bearer) +([A-Za-z0-9._~+/-]+=*)[ \t]*$`)

// credentialCorpus is Authorization field values around key: the cases
// that once split the functions, and generated ones.
func credentialCorpus(key string) [][]string {
	c := [][]string{
		{"Bearer " + key}, {"bearer " + key}, {"BEARER " + key}, {"bEaReR " + key}, {"Bearer  " + key}, {"Bearer     " + key},
		{"Bearer\t" + key}, {"Bearer " + key + " "}, {" Bearer " + key}, {"Basic " + key}, {key}, {"Bearer"}, {"Bearer "}, {""},
		{"Bearer " + key + "x"}, {"Bearer " + key[:len(key)-1]}, {"Bearer " + strings.ToUpper(key)}, {"Bearer " + key + " extra"},
		{"Bearer " + key + "="}, {"Bearer " + key, "Bearer " + key}, {"Bearer x", "Bearer " + key}, {"Bearer=" + key}, {"Bearer:" + key},
		{}, // no Authorization at all
	}
	r := rand.New(rand.NewPCG(6750, 9110))
	schemes := []string{"Bearer", "bearer", "BEARER", "Bearer\t", "Basic", "Token", ""}
	spaces := []string{" ", "  ", "   ", "\t", "", " \t"}
	tokens := []string{key, key + "=", key + "==", strings.ToUpper(key), key[:10], key + ",", key + "\"", "\"" + key + "\""}
	for range 150 {
		c = append(c, []string{spaces[r.IntN(2)] + schemes[r.IntN(len(schemes))] + spaces[r.IntN(len(spaces))] + tokens[r.IntN(len(tokens))] + spaces[r.IntN(3)]})
	}
	return c
}

// TestCredentialVerdictEverywhere: one corpus of Authorization values
// gets one verdict from newOrder, dailySummary and salesBoard, all
// holding the same key: accepted exactly when it is one field that the
// grammar reads as the key.
func TestCredentialVerdictEverywhere(t *testing.T) {
	e := setUpEntryPoints(t)
	for i, values := range credentialCorpus(e.key) {
		want := len(values) == 1 && credentialGrammar.MatchString(values[0]) && credentialGrammar.FindStringSubmatch(values[0])[1] == e.key
		header := func(contentType string) http.Header {
			h := http.Header{"Content-Type": {contentType}}
			if len(values) > 0 {
				h["Authorization"] = values
			}
			return h
		}
		got := map[string]bool{}
		order := fmt.Sprintf(`{"order_id": %d, "email_vendedor": %q, "email_cocinero": "c@example.com", "numero_sopaipillas": 1}`, 5000+i, corpusVendor)
		got["newOrder"] = authVerdict(t, "newOrder", serve(e.keyed, http.MethodPost, "/newOrder", header("application/json"), order), http.StatusCreated)
		// A day in the future: past the token, dailySummary refuses it
		// (422) without reading Kafka.
		got["dailySummary"] = authVerdict(t, "dailySummary", serve(e.summary, http.MethodPost, "/dailySummary", header("application/json"), `{"fecha":"31/12/2099"}`), http.StatusUnprocessableEntity)
		// A day the board does not offer: past the token, 422.
		got["salesBoard"] = authVerdict(t, "salesBoard", serve(e.board, http.MethodGet, "/api/days/01-01-1990", header(""), ""), http.StatusUnprocessableEntity)
		for where, ok := range got {
			if ok != want {
				t.Errorf("Authorization %q: %s accepts=%v, the grammar says %v", values, where, ok, want)
			}
		}
	}
}

// authVerdict is true for the status a request past authentication gets,
// false for 401, and fails the test on anything else.
func authVerdict(t *testing.T, where string, w *httptest.ResponseRecorder, pass int) bool {
	t.Helper()
	switch w.Code {
	case pass:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("%s: %d %s", where, w.Code, bytes.TrimSpace(w.Body.Bytes()))
	return false
}

// TestRepeatedAttributeVerdictEverywhere: a CloudEvent request with an
// attribute header, or Content-Type, sent twice is not one CloudEvent:
// newOrder, dailySummary and sendMail answer 400 naming the header,
// whichever copy comes first.
func TestRepeatedAttributeVerdictEverywhere(t *testing.T) {
	e := setUpEntryPoints(t)
	receivers := []struct {
		name    string
		h       http.Handler
		path    string
		typ     string // the type each expects
		data    string
		headers http.Header // besides the attributes
	}{
		{"newOrder", e.open, "/newOrder", events.TypeOrderCreated, `{"order_id": 9, "email_vendedor": "v@example.com", "email_cocinero": "c@example.com", "numero_sopaipillas": 1}`, nil},
		{"dailySummary", e.summary, "/dailySummary", events.TypePing, `{}`, http.Header{"Authorization": {"Bearer " + e.key}}},
		{"sendMail", e.mail, "/", events.TypeSummaryCreated, `{}`, nil},
	}
	for _, rc := range receivers {
		for _, tt := range []struct {
			header string
			values []string
		}{
			{"Ce-Type", []string{"other.type", rc.typ}},
			{"Ce-Type", []string{rc.typ, "other.type"}},
			{"Ce-Type", []string{rc.typ, rc.typ}},
			{"Ce-Specversion", []string{"1.0", "0.3"}},
			{"Ce-Specversion", []string{"0.3", "1.0"}},
			{"Ce-Id", []string{"a", "b"}},
			{"Ce-Source", []string{"/a", "/b"}},
			{"Content-Type", []string{"application/json", "text/plain"}},
		} {
			h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/corpus"}, "Ce-Type": {rc.typ}, "Content-Type": {"application/json"}}
			for k, v := range rc.headers {
				h[k] = v
			}
			h[tt.header] = tt.values
			w := serve(rc.h, http.MethodPost, rc.path, h, rc.data)
			if got := fieldsOf(w.Body.Bytes()); w.Code != http.StatusBadRequest || len(got) != 1 || got[0] != tt.header {
				t.Errorf("%s, %s: %q: %d %s, want 400 naming %s", rc.name, tt.header, tt.values, w.Code, bytes.TrimSpace(w.Body.Bytes()), tt.header)
			}
		}
	}
}
