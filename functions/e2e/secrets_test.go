package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/dailysummary"
	"github.com/sopaipillas/sopaipillas/functions/internal/logtest"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/internal/vendors"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

// Values no log line, error message or answer may ever contain.
const (
	smtpPassword = "contraseña-smtp-XYZZY-1234"
	sendgridKey  = "SG.clave-sendgrid-PLUGH-5678"
	summaryToken = "token-resumen-FROBOZZ-9012-abcdef0123456789"
)

// TestSecretsStaySecret runs the functions as their binaries do, from the
// environment, with credentials set, makes each credential fail in use
// (wrong SMTP password, SendGrid refusing the key, a wrong summary token,
// vendor API keys missing, wrong, revoked or used for another vendor), and
// checks that no log line and no answer carries a secret.
func TestSecretsStaySecret(t *testing.T) {
	brokers := brokers(t)["embedded"]
	var logs logtest.Buffer
	var answers []string

	// sendMail over SMTP: the server wants another password.
	smtpSrv, err := smtptest.NewWithOptions("127.0.0.1:0", smtptest.Options{Username: "reportes", Password: "otra-clave"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	// sendMail over SendGrid: the API refuses the key.
	sendgrid := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked"}]}`)
	}))
	t.Cleanup(sendgrid.Close)

	// The vendor registry: the seed's vendor and another, each with a key;
	// a third key revoked (in no file).
	seedKey, seedHash, _ := vendors.NewKey()
	otherKey, otherHash, _ := vendors.NewKey()
	revokedKey, _, _ := vendors.NewKey()
	registry := filepath.Join(t.TempDir(), "vendors.yaml")
	if err := os.WriteFile(registry, []byte("vendors:\n"+
		"  - {email: vendor_tarea2@yopmail.com, name: Prueba, keys: ["+seedHash+"]}\n"+
		"  - {email: otra@example.com, name: Otra, keys: ["+otherHash+"]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	common := map[string]string{
		"KAFKA_BROKERS": strings.Join(brokers, ","), "MAIL_FROM": "reportes@sopaipillas.test",
		"MAIL_LEDGER_TOPIC": "mail-sent-secrets-" + randomSuffix(t), "LOG_LEVEL": "debug",
		"SMTP_USERNAME": "reportes", "SMTP_PASSWORD": smtpPassword, "SENDGRID_API_KEY": sendgridKey,
		"SUMMARY_TOKEN": summaryToken, "VENDORS_FILE": registry, "ORDER_TOPIC": "order-secrets-" + randomSuffix(t),
	}
	for k, v := range common {
		t.Setenv(k, v)
	}

	// Today (UTC): sendMail mails only days its ledger still keeps.
	summary := `{"ventas": {"vendor_tarea2@yopmail.com": {"n_sopaipillas": 101, "n_ordenes": 1}}, "fecha": "` + time.Now().UTC().Format("02/01/2006") + `"}`
	for _, backend := range []map[string]string{
		{"MAIL_BACKEND": "smtp", "SMTP_HOST": smtpSrv.Host(), "SMTP_PORT": fmt.Sprint(smtpSrv.Port()), "SMTP_TLS": "none", "SMTP_ALLOW_INSECURE_AUTH": "true"},
		{"MAIL_BACKEND": "sendgrid", "SENDGRID_BASE_URL": sendgrid.URL},
	} {
		for k, v := range backend {
			t.Setenv(k, v)
		}
		url := start(t, "sendMail", sendmail.Setup, &logs)
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(summary))
		req.Header = http.Header{
			"Ce-Specversion": {"1.0"}, "Ce-Id": {"secretos-" + backend["MAIL_BACKEND"]}, "Ce-Source": {"/test"},
			"Ce-Type": {"cl.sopaipillas.summary.created.v1"}, "Content-Type": {"application/json"},
		}
		answers = append(answers, do(t, req, http.StatusServiceUnavailable))
	}

	url := start(t, "dailySummary", dailysummary.Setup, &logs)
	req, _ := http.NewRequest(http.MethodPost, url+"/dailySummary", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+summaryToken+"-mal")
	answers = append(answers, do(t, req, http.StatusUnauthorized))

	url = start(t, "newOrder", neworder.Setup, &logs)
	order := `{"order_id": 3, "email_vendedor": "vendor_tarea2@yopmail.com", "email_cocinero": "asdasdasda@yopmail.com", "numero_sopaipillas": 15}`
	for _, c := range []struct {
		auth   string // Authorization
		body   string
		status int
	}{
		{"Bearer " + seedKey, order, http.StatusCreated},
		{"Bearer " + otherKey, order, http.StatusForbidden},
		{"Bearer " + revokedKey, order, http.StatusUnauthorized},
		{"Bearer " + seedKey[:len(seedKey)-1], order, http.StatusUnauthorized},
		{"Basic " + seedKey, order, http.StatusUnauthorized},
		{"Bearer " + otherKey, `{"order_id": "` + otherKey + `"}`, http.StatusUnprocessableEntity},
	} {
		req, _ := http.NewRequest(http.MethodPost, url+"/newOrder", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", c.auth)
		answers = append(answers, do(t, req, c.status))
	}

	if smtpSrv.Connections() == 0 {
		t.Error("sendMail never reached the SMTP server: the password was not tried")
	}
	everything := logs.String() + strings.Join(answers, "\n")
	if !strings.Contains(logs.String(), "email not sent") {
		t.Errorf("the failed sends were not logged; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "unknown API key") || !strings.Contains(logs.String(), "another vendor") {
		t.Errorf("refused keys were not logged; logs:\n%s", logs.String())
	}
	for _, secret := range []string{smtpPassword, sendgridKey, summaryToken, seedKey, otherKey, revokedKey, seedKey[4:20], otherKey[len(otherKey)-16:]} {
		if strings.Contains(everything, secret) {
			t.Errorf("a log line or an answer contains the secret %q:\n%s", secret, everything)
		}
	}
}

// start runs a function from the environment on a free port until the
// test ends and returns its URL once it is ready (/readyz).
func start[C any](t *testing.T, name string, setup runner.Setup[C], logs io.Writer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- runner.RunOn(ctx, name, setup, ln, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	url := "http://" + ln.Addr().String()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return url
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("%s stopped: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func do(t *testing.T, req *http.Request, want int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL, resp.StatusCode, want, b)
	}
	return string(b)
}
