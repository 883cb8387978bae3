package sendmail

import "github.com/sopaipillas/sopaipillas/functions/internal/mail"

// backendOf names a mail backend for metrics and spans.
func backendOf(s mail.Sender) string {
	switch s.(type) {
	case *mail.SMTP:
		return "smtp"
	case *mail.SendGrid:
		return "sendgrid"
	}
	return "other"
}
