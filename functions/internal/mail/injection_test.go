package mail

import (
	"context"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"strings"
	"testing"
)

// TestHeaderInjection tries to add a header or a recipient through every
// field of a Message, against both backends. Each attempt is either
// delivered to exactly the one intended recipient with no extra header, or
// refused before anything is sent: as permanent when the attack is in the
// recipient's address (it can never be delivered), as a configuration
// error anywhere else (our sender, subject or message id: every vendor's
// email would fail alike, so none may be written off).
func TestHeaderInjection(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Message) // the attack
		recipient bool           // the attack is in To
	}{
		{name: "CRLF Bcc in subject", mutate: func(m *Message) { m.Subject = "Reporte\r\nBcc: evil@example.net" }},
		{name: "LF header in subject", mutate: func(m *Message) { m.Subject = "Reporte\nX-Injected: yes" }},
		{name: "CRLF in from name", mutate: func(m *Message) { m.FromName = "Sopaipillas\r\nBcc: evil@example.net" }},
		{name: "quote and comma in from name", mutate: func(m *Message) { m.FromName = `Sopa", evil@example.net, "x` }},
		{name: "CRLF in to", mutate: func(m *Message) { m.To = "vendor@example.com\r\nBcc: evil@example.net" }, recipient: true},
		{name: "two addresses in to", mutate: func(m *Message) { m.To = "vendor@example.com, evil@example.net" }, recipient: true},
		{name: "display name in to", mutate: func(m *Message) { m.To = "Evil <evil@example.net>" }, recipient: true},
		{name: "group syntax in to", mutate: func(m *Message) { m.To = "friends: vendor@example.com, evil@example.net;" }, recipient: true},
		{name: "CRLF in from", mutate: func(m *Message) { m.From = "reportes@sopaipillas.example\r\nBcc: evil@example.net" }},
		{name: "CRLF in message id", mutate: func(m *Message) { m.MessageID = "x@y\r\nBcc: evil@example.net" }},
		{name: "angle brackets in message id", mutate: func(m *Message) { m.MessageID = "x@y>\r\n<z@w" }},
		{name: "unicode line separator in subject", mutate: func(m *Message) { m.Subject = "Reporte\u2028Bcc: evil@example.net" }},
		{name: "header-looking text body", mutate: func(m *Message) { m.Text = "\r\n\r\nBcc: evil@example.net\r\n" }},
	}
	for _, tc := range tests {
		m := testMessage("vendor@example.com")
		tc.mutate(&m)
		t.Run("smtp/"+tc.name, func(t *testing.T) {
			srv := newSMTPCatcher(t)
			err := srv.sender.Send(context.Background(), m)
			if err != nil {
				if !refusedAs(err, tc.recipient) {
					t.Fatalf("refused as permanent %v, configuration error %v, want %v, %v: %v", IsPermanent(err), IsConfigError(err), tc.recipient, !tc.recipient, err)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("refused, yet the server got %d messages", n)
				}
				return
			}
			got := srv.Messages()
			if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "vendor@example.com" {
				t.Fatalf("envelope recipients: %+v", got)
			}
			checkNoInjectedHeaders(t, got[0].Data)
		})
		t.Run("sendgrid/"+tc.name, func(t *testing.T) {
			var reqs []sendGridRequest
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs = append(reqs, decodeSendGrid(t, r))
				w.WriteHeader(http.StatusAccepted)
			}))
			defer ts.Close()
			sg, err := NewSendGrid(SendGridConfig{APIKey: "SG.test", BaseURL: ts.URL})
			if err != nil {
				t.Fatal(err)
			}
			if err := sg.Send(context.Background(), m); err != nil {
				if !refusedAs(err, tc.recipient) || len(reqs) != 0 {
					t.Fatalf("refused as %v after %d requests", err, len(reqs))
				}
				return
			}
			if len(reqs) != 1 || len(reqs[0].Personalizations) != 1 || len(reqs[0].Personalizations[0].To) != 1 ||
				reqs[0].Personalizations[0].To[0].Email != "vendor@example.com" || len(reqs[0].Personalizations[0].CC)+len(reqs[0].Personalizations[0].BCC) != 0 {
				t.Fatalf("recipients: %+v", reqs)
			}
			for k, v := range reqs[0].Headers {
				if strings.ContainsAny(k+v, "\r\n") {
					t.Errorf("header %q: %q carries a line break", k, v)
				}
			}
		})
	}
}

// refusedAs reports whether err is a refusal of the recipient (when
// recipient) or a configuration error (otherwise), and not both.
func refusedAs(err error, recipient bool) bool {
	return IsPermanent(err) == recipient && IsConfigError(err) == !recipient
}

// checkNoInjectedHeaders fails when the top-level header holds anything an
// attack could have added.
func checkNoInjectedHeaders(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v", err)
	}
	for _, h := range []string{"Bcc", "Cc", "X-Injected"} {
		if v := msg.Header.Get(h); v != "" {
			t.Errorf("injected header %s: %q", h, v)
		}
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "vendor@example.com" {
		t.Errorf("To header: %v %v", to, err)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 {
		t.Errorf("From header: %v %v", from, err)
	}
}
