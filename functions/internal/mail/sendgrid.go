package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"
)

// DefaultSendGridBaseURL is SendGrid's API.
const DefaultSendGridBaseURL = "https://api.sendgrid.com"

// SendGridConfig is how to reach SendGrid's v3 API.
type SendGridConfig struct {
	APIKey string
	// BaseURL is the API's scheme and host; tests point it at a local server.
	BaseURL string
	// Timeout bounds one API call; 0 means 15s.
	Timeout time.Duration
}

// SendGrid sends through SendGrid's v3 /mail/send API. Safe for concurrent
// use.
//
// SendGrid sets its own Message-ID, so the deterministic one travels as the
// X-Sopaipillas-Message-ID header and the report_id custom arg (it shows up
// in SendGrid's event webhook): a duplicate is still recognisable.
type SendGrid struct {
	key     string
	baseURL string
	http    *rest.Client
}

// NewSendGrid checks cfg and returns a SendGrid sender.
func NewSendGrid(cfg SendGridConfig) (*SendGrid, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("SENDGRID_API_KEY is required when MAIL_BACKEND=sendgrid")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultSendGridBaseURL
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	return &SendGrid{key: cfg.APIKey, baseURL: base, http: &rest.Client{HTTPClient: &http.Client{Timeout: timeout}}}, nil
}

// Send posts m to SendGrid. sendgrid-go returns a nil error for any HTTP
// answer, so the status decides (see Sender for the classes):
//   - 202 (or 200): accepted.
//   - 400 whose errors all name the recipient field
//     (personalizations.N.to.N.email: an invalid address): permanent.
//   - any other 400 (our request), 401 and 403 (the API key, or a sender
//     not verified: SENDGRID_API_KEY, MAIL_FROM), 413 (our message too
//     big), 429 (over the account's rate: MAIL_RATE_PER_SECOND) and 5xx
//     (SendGrid's outage): a configuration or provider error, transient.
//   - other 4xx, network errors, timeouts: transient.
func (s *SendGrid) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	body, err := json.Marshal(sendGridMail(m))
	if err != nil {
		return config(fmt.Errorf("encoding SendGrid request: %w", err))
	}
	req := sendgrid.GetRequest(s.key, "/v3/mail/send", s.baseURL)
	req.Method = rest.Post
	req.Body = body
	resp, err := s.http.SendWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("calling SendGrid: %w", err)
	}
	status := resp.StatusCode
	switch {
	case status == http.StatusAccepted || status == http.StatusOK:
		return nil
	case status == http.StatusBadRequest && recipientRejected(resp.Body):
		return permanent(fmt.Errorf("SendGrid refused the recipient: %s", sendGridErrors(resp.Body)))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return config(fmt.Errorf("SendGrid refused the API key or sender (check SENDGRID_API_KEY and MAIL_FROM): %d %s", status, sendGridErrors(resp.Body)))
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge ||
		status == http.StatusTooManyRequests || status >= 500:
		return config(fmt.Errorf("SendGrid answered %d: %s", status, sendGridErrors(resp.Body)))
	default:
		return fmt.Errorf("SendGrid answered %d: %s", status, sendGridErrors(resp.Body))
	}
}

// sendGridMail is the v3 request: one personalization with one recipient,
// text before HTML (the API requires that order).
func sendGridMail(m Message) *sgmail.SGMailV3 {
	p := sgmail.NewPersonalization()
	p.AddTos(sgmail.NewEmail("", m.To))
	v3 := sgmail.NewV3Mail().
		SetFrom(sgmail.NewEmail(m.FromName, m.From)).
		AddPersonalizations(p).
		AddContent(sgmail.NewContent("text/plain", m.Text), sgmail.NewContent("text/html", m.HTML)).
		SetHeader("X-Sopaipillas-Message-ID", "<"+m.MessageID+">").
		SetCustomArg("report_id", m.MessageID)
	v3.Subject = m.Subject
	return v3
}

type sendGridError struct {
	Message string `json:"message"`
	Field   string `json:"field"`
}

func parseSendGridErrors(body string) []sendGridError {
	var e struct {
		Errors []sendGridError `json:"errors"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Errors
}

// recipientRejected reports whether a 400's errors all name the
// recipient, e.g. field "personalizations.0.to.0.email" (SendGrid's v3
// error format). Any other field (from, subject, content, a
// personalization's headers) is our request's fault, the same for every
// vendor; so is a 400 that names the recipient and something else too.
func recipientRejected(body string) bool {
	errs := parseSendGridErrors(body)
	for _, e := range errs {
		if !recipientField.MatchString(e.Field) {
			return false
		}
	}
	return len(errs) > 0
}

// recipientField matches the fields of a personalization's recipient list:
// "personalizations.0.to", "personalizations.0.to.0.email",
// "personalizations[0].to[0].email".
var recipientField = regexp.MustCompile(`^personalizations(\.\d+|\[\d+\])?\.to((\.\d+|\[\d+\])(\.email)?)?$`)

// sendGridErrors summarises an error body for logs, without addresses.
func sendGridErrors(body string) string {
	var parts []string
	for _, e := range parseSendGridErrors(body) {
		parts = append(parts, e.Field+": "+e.Message)
	}
	if len(parts) == 0 {
		return "no error details"
	}
	return strings.Join(parts, "; ")
}
