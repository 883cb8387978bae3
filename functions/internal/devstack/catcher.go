package devstack

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// Catcher is the local mail catcher of `make dev`: an SMTP server that
// accepts every email, saves it as an .eml file in Dir, and lists what it
// caught on a web page.
type Catcher struct {
	Dir string
	Log *slog.Logger

	mu     sync.Mutex
	caught []caughtMail
}

type caughtMail struct {
	File, To, Subject string
	At                time.Time
}

// Caught is one email as the catcher received it.
type Caught struct {
	To, Subject string
	Raw         []byte
}

// Messages returns what was caught so far, one entry per recipient.
func (c *Catcher) Messages() ([]Caught, error) {
	c.mu.Lock()
	list := append([]caughtMail(nil), c.caught...)
	c.mu.Unlock()
	out := make([]Caught, 0, len(list))
	for _, m := range list {
		raw, err := os.ReadFile(filepath.Join(c.Dir, m.File))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.File, err)
		}
		out = append(out, Caught{To: m.To, Subject: m.Subject, Raw: raw})
	}
	return out, nil
}

// Start starts the SMTP side on addr ("127.0.0.1:0" picks a free port):
// a real SMTP server (smtptest) whose every message is saved.
func (c *Catcher) Start(addr string) (*smtptest.Server, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("mail catcher: %w", err)
	}
	srv, err := smtptest.NewWithOptions(addr, smtptest.Options{OnMessage: func(m smtptest.Message) {
		if err := c.save(m.To, m.Data); err != nil {
			c.Log.Error("mail catcher", "error", err)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("mail catcher: %w", err)
	}
	return srv, nil
}

func (c *Catcher) save(to []string, data []byte) error {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	subject := ""
	if err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	name := fmt.Sprintf("%s-%04d.eml", now.Format("20060102-150405"), len(c.caught)+1)
	if err := os.WriteFile(filepath.Join(c.Dir, name), data, 0o644); err != nil {
		return fmt.Errorf("saving %s: %w", name, err)
	}
	for _, rcpt := range to {
		c.caught = append(c.caught, caughtMail{File: name, To: rcpt, Subject: subject, At: now})
	}
	c.Log.Info("mail caught", "file", filepath.Join(c.Dir, name), "subject", subject)
	return nil
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>sopaipillas — correos</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;margin:2em">
<h1>Correos capturados ({{len .}})</h1>
<table cellpadding="6"><tr><th>Hora</th><th>Para</th><th>Asunto</th><th></th></tr>
{{range .}}<tr><td>{{.At.Format "15:04:05"}}</td><td>{{.To}}</td><td>{{.Subject}}</td><td><a href="/mail/{{.File}}">{{.File}}</a></td></tr>
{{end}}</table></body></html>`))

// WebHandler lists the caught emails and serves each .eml as text.
func (c *Catcher) WebHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		list := append([]caughtMail(nil), c.caught...)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = indexPage.Execute(w, list)
	})
	mux.HandleFunc("GET /mail/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.ServeFile(w, r, filepath.Join(c.Dir, filepath.Base(r.PathValue("file"))))
	})
	return mux
}
