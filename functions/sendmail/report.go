package sendmail

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"

	"github.com/sopaipillas/sopaipillas/events"
	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Report renders the daily email of one vendor.
type Report struct {
	text     *texttemplate.Template
	html     *htmltemplate.Template
	from     string
	fromName string
	domain   string
}

// reportData is what the templates see.
type reportData struct {
	Vendor       string
	Fecha        string
	NOrdenes     int64
	NSopaipillas int64
}

// NewReport parses the templates. from is the sender's address; its domain
// ends every Message-ID.
func NewReport(from, fromName string) (*Report, error) {
	text, err := texttemplate.ParseFS(templateFiles, "templates/report.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("text template: %w", err)
	}
	html, err := htmltemplate.ParseFS(templateFiles, "templates/report.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("html template: %w", err)
	}
	domain := "sopaipillas.local"
	if i := bytes.LastIndexByte([]byte(from), '@'); i >= 0 {
		domain = from[i+1:]
	}
	return &Report{text: text, html: html, from: from, fromName: fromName, domain: domain}, nil
}

// Render returns the email for vendor in the summary published as eventID.
func (r *Report) Render(eventID string, s events.Summary, vendor string, date time.Time) (mail.Message, error) {
	sales := s.Ventas[vendor]
	data := reportData{Vendor: vendor, Fecha: s.Fecha, NOrdenes: sales.NOrdenes, NSopaipillas: sales.NSopaipillas}
	var text, html bytes.Buffer
	if err := r.text.Execute(&text, data); err != nil {
		return mail.Message{}, fmt.Errorf("rendering text: %w", err)
	}
	if err := r.html.Execute(&html, data); err != nil {
		return mail.Message{}, fmt.Errorf("rendering html: %w", err)
	}
	return mail.Message{
		FromName:  r.fromName,
		From:      r.from,
		To:        vendor,
		Subject:   "Reporte de sopaipillas — " + s.Fecha,
		Text:      text.String(),
		HTML:      html.String(),
		MessageID: MessageID(eventID, vendor, r.domain),
		Date:      date,
	}, nil
}

// MessageID is the same for every delivery of one summary to one vendor, so
// mail systems can recognise a duplicate.
func MessageID(eventID, vendor, domain string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + vendor))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}
