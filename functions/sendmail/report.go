package sendmail

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Report renders the daily emails: a vendor's (templates/report.*) and a
// cook's (templates/cook.*).
type Report struct {
	kinds    map[string]templates
	from     string
	fromName string
	domain   string
}

// templates are one kind of reader's email: its subject's title and its
// two parts.
type templates struct {
	title string
	text  *texttemplate.Template
	html  *htmltemplate.Template
}

// NewReport parses the templates. from is the sender's address; its domain
// ends every Message-ID.
func NewReport(from, fromName string) (*Report, error) {
	r := &Report{kinds: map[string]templates{}, from: from, fromName: fromName, domain: "sopaipillas.local"}
	for _, k := range []struct{ kind, file, title string }{
		{kindVendor, "report", "Reporte de sopaipillas"},
		{kindCook, "cook", "Reporte de cocina"},
	} {
		text, err := texttemplate.ParseFS(templateFiles, "templates/"+k.file+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("text template: %w", err)
		}
		html, err := htmltemplate.ParseFS(templateFiles, "templates/"+k.file+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("html template: %w", err)
		}
		r.kinds[k.kind] = templates{title: k.title, text: text, html: html}
	}
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		r.domain = from[i+1:]
	}
	return r, nil
}

// Render returns the email of letter l of a report of kind for book, dated
// date. Its subject says the day and whether the numbers are final:
// "Reporte de sopaipillas — 13/11/2021 — Resumen parcial, hasta las 14:32".
func (r *Report) Render(kind, book string, l letter, date time.Time) (mail.Message, error) {
	t, ok := r.kinds[kind]
	if !ok {
		return mail.Message{}, fmt.Errorf("no templates for %q", kind)
	}
	var fecha, estado string
	switch v := l.view.(type) {
	case vendorView:
		fecha, estado = v.Fecha, v.Estado
	case cookView:
		fecha, estado = v.Fecha, v.Estado
	default:
		return mail.Message{}, fmt.Errorf("no view for %T", l.view)
	}
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, l.view); err != nil {
		return mail.Message{}, fmt.Errorf("rendering text: %w", err)
	}
	if err := t.html.Execute(&html, l.view); err != nil {
		return mail.Message{}, fmt.Errorf("rendering html: %w", err)
	}
	return mail.Message{
		FromName:  r.fromName,
		From:      r.from,
		To:        l.id.To,
		Subject:   t.title + " — " + fecha + " — " + estado,
		Text:      text.String(),
		HTML:      html.String(),
		MessageID: MessageID(book, l.id, r.domain),
		Date:      date,
	}, nil
}

// MessageID is the same for every delivery of one email (one reader, one
// day, one content), so mail systems can recognise a duplicate.
func MessageID(book string, e EmailID, domain string) string {
	sum := sha256.Sum256([]byte(book + "\x00" + e.To + "\x00" + e.Key))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}
