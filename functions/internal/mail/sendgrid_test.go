package mail

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// smtpCatcher is a loopback SMTP server with a sender pointed at it.
type smtpCatcher struct {
	*smtptest.Server
	sender *SMTP
}

func newSMTPCatcher(t *testing.T) smtpCatcher {
	srv := smtptest.Start(t)
	return smtpCatcher{Server: srv, sender: newTestSMTP(t, srv, nil)}
}

// sendGridRequest is SendGrid's v3 /mail/send body, as documented.
type sendGridRequest struct {
	Personalizations []struct {
		To  []sendGridAddress `json:"to"`
		CC  []sendGridAddress `json:"cc"`
		BCC []sendGridAddress `json:"bcc"`
	} `json:"personalizations"`
	From    sendGridAddress `json:"from"`
	Subject string          `json:"subject"`
	Content []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"content"`
	Headers    map[string]string `json:"headers"`
	CustomArgs map[string]string `json:"custom_args"`

	// From the HTTP request.
	Method, Path, Authorization, ContentType string
}

type sendGridAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// decodeSendGrid reads a request the way SendGrid would: strictly.
func decodeSendGrid(t *testing.T, r *http.Request) sendGridRequest {
	t.Helper()
	var req sendGridRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		t.Errorf("request body is not the v3 shape: %v", err)
	}
	req.Method, req.Path = r.Method, r.URL.Path
	req.Authorization, req.ContentType = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
	return req
}

func TestSendGridRequestShape(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []sendGridRequest
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := decodeSendGrid(t, r)
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer ts.Close()
	sg, err := NewSendGrid(SendGridConfig{APIKey: "SG.secret", BaseURL: ts.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage("vendor@example.com")
	if err := sg.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := sendGridRequest{
		From:    sendGridAddress{Email: "reportes@sopaipillas.example", Name: "Sopaipillas Don Pepe"},
		Subject: "Reporte de sopaipillas — 13/11/2021",
		Content: []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		}{{"text/plain", m.Text}, {"text/html", m.HTML}},
		Headers:       map[string]string{"X-Sopaipillas-Message-ID": "<0123abcd@sopaipillas.example>"},
		CustomArgs:    map[string]string{"report_id": "0123abcd@sopaipillas.example"},
		Method:        "POST",
		Path:          "/v3/mail/send",
		Authorization: "Bearer SG.secret",
		ContentType:   "application/json",
	}
	want.Personalizations = append(want.Personalizations, struct {
		To  []sendGridAddress `json:"to"`
		CC  []sendGridAddress `json:"cc"`
		BCC []sendGridAddress `json:"bcc"`
	}{To: []sendGridAddress{{Email: "vendor@example.com"}}})
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if diff := cmp.Diff(want, reqs[0]); diff != "" {
		t.Errorf("request (-want, +got):\n%s", diff)
	}
}

// TestSendGridUnreachable: a network error is transient.
func TestSendGridUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	sg, _ := NewSendGrid(SendGridConfig{APIKey: "k", BaseURL: url})
	if err := sg.Send(context.Background(), testMessage("vendor@example.com")); err == nil || IsPermanent(err) || IsConfigError(err) {
		t.Errorf("Send to a closed port = %v, want a transient error", err)
	}
}
