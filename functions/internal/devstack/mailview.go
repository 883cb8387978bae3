package devstack

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The mail view is a small server-rendered page rather than an embedded
// Mailpit: Mailpit's Go module ships without its web UI (server/ui is built
// with npm and not in the module), its packages are internal, and it keeps
// mail in its own SQLite database rather than the .eml files of the data
// directory.

// viewedMail is one .eml file as the list and the detail show it.
type viewedMail struct {
	File                                   string
	Received                               time.Time
	From, To, Cc, Subject, Date, MessageID string
	// Text and HTML are the first text/plain and text/html parts, decoded.
	Text, HTML  string
	Attachments []string
	Err         string
}

// mailHeaders reads what the list shows: the header only.
func mailHeaders(path string, loc *time.Location) viewedMail {
	v := viewedMail{File: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		v.Received = st.ModTime().In(loc)
	}
	msg, err := mail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		v.Err = "not an email: " + err.Error()
		return v
	}
	v.headers(msg.Header, loc)
	return v
}

var wordDecoder = new(mime.WordDecoder)

func (v *viewedMail) headers(h mail.Header, loc *time.Location) {
	dec := func(s string) string {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			return d
		}
		return s
	}
	v.From, v.To, v.Cc, v.Subject = dec(h.Get("From")), dec(h.Get("To")), dec(h.Get("Cc")), dec(h.Get("Subject"))
	v.MessageID = h.Get("Message-Id")
	v.Date = h.Get("Date")
	if t, err := mail.ParseDate(v.Date); err == nil {
		v.Date = t.In(loc).Format(timeLayout)
	}
}

// timeLayout shows the zone's abbreviation (-03 in Santiago in summer); the
// page names the zone once.
const timeLayout = "02/01/2006 15:04:05 MST"

// readMail reads a whole .eml file: headers and the parts a reader shows.
func readMail(path string, loc *time.Location) (viewedMail, []byte, error) {
	v := mailHeaders(path, loc)
	raw, err := os.ReadFile(path)
	if err != nil {
		return v, nil, err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return v, raw, nil
	}
	if err := v.walk(msg.Header, msg.Body, 0); err != nil {
		v.Err = "reading the body: " + err.Error()
	}
	return v, raw, nil
}

// walk finds the text and HTML parts of an entity, depth first, as a mail
// reader shows a multipart/alternative (or mixed, or related) message.
func (v *viewedMail) walk(h interface{ Get(string) string }, body io.Reader, depth int) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth > 10 {
			return errors.New("multipart nested too deep")
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			// multipart.Reader already undoes quoted-printable.
			if err := v.walk(part.Header, part, depth+1); err != nil {
				return err
			}
		}
	}
	disposition, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	if disposition == "attachment" || (mediaType != "text/plain" && mediaType != "text/html") {
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		v.Attachments = append(v.Attachments, fmt.Sprintf("%s (%s)", name, mediaType))
		return nil
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &skipSpace{r: body})
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(io.LimitReader(body, 4<<20))
	if err != nil {
		return err
	}
	text := decodeCharset(b, params["charset"])
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if mediaType == "text/html" && v.HTML == "" {
		v.HTML = text
	} else if mediaType == "text/plain" && v.Text == "" {
		v.Text = text
	}
	return nil
}

// decodeCharset handles what our emails and most others use; anything else
// is shown as it is.
func decodeCharset(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "windows-1252":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	return string(b)
}

// skipSpace drops the line breaks of a base64 body.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// list returns every email in the directory, newest first.
func (c *Catcher) list() ([]viewedMail, error) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []viewedMail
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		out = append(out, mailHeaders(filepath.Join(c.Dir, e.Name()), c.loc()))
	}
	slices.SortFunc(out, func(a, b viewedMail) int {
		if c := b.Received.Compare(a.Received); c != 0 {
			return c
		}
		return strings.Compare(b.File, a.File)
	})
	return out, nil
}

func (c *Catcher) loc() *time.Location {
	if c.Location == nil {
		return time.UTC
	}
	return c.Location
}

// The view's own pages run no script and load nothing from elsewhere.
const viewCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// mailCSP is for an email's HTML part: sandboxed (a unique origin, no
// scripts, no forms, no popups) even when opened outside the iframe, and no
// remote content (tracking pixels, fonts).
const mailCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"

// WebHandler serves the mail view: the list of every email in Dir, newest
// first, and one email with its headers, the HTML part rendered in a
// sandboxed iframe, the text part and a download of the raw .eml.
func (c *Catcher) WebHandler() http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, file string) {
		list, err := c.list()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data := struct {
			List     []viewedMail
			Zone     string
			Selected *viewedMail
		}{List: list, Zone: c.loc().String()}
		if file == "" && len(list) > 0 {
			file = list[0].File
		}
		if file != "" {
			v, _, err := readMail(filepath.Join(c.Dir, file), c.loc())
			if errors.Is(err, os.ErrNotExist) {
				http.NotFound(w, nil)
				return
			}
			if err != nil {
				v.Err = err.Error()
			}
			data.Selected = &v
		}
		w.Header().Set("Content-Security-Policy", viewCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if err := viewPage.Execute(w, data); err != nil {
			c.Log.Error("mail view", "error", err)
		}
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { page(w, "") })
	mux.HandleFunc("GET /mail/{file}", func(w http.ResponseWriter, r *http.Request) {
		file, ok := c.file(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		page(w, file)
	})
	mux.HandleFunc("GET /mail/{file}/html", func(w http.ResponseWriter, r *http.Request) {
		file, ok := c.file(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		v, _, err := readMail(filepath.Join(c.Dir, file), c.loc())
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", mailCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		io.WriteString(w, v.HTML)
	})
	mux.HandleFunc("GET /mail/{file}/raw", func(w http.ResponseWriter, r *http.Request) {
		file, ok := c.file(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "message/rfc822")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFile(w, r, filepath.Join(c.Dir, file))
	})
	return mux
}

// file is the request's .eml file name, only ever a plain name in Dir.
func (c *Catcher) file(r *http.Request) (string, bool) {
	f := r.PathValue("file")
	if f != filepath.Base(f) || strings.HasPrefix(f, ".") || !strings.HasSuffix(f, ".eml") {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(c.Dir, f)); err != nil {
		return "", false
	}
	return f, true
}

var viewPage = template.Must(template.New("view").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>{{with .Selected}}{{.Subject}} — {{end}}correos de sopaipillas</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f6f4}
header{padding:.6em 1.2em;background:#7a3e12;color:#fff}
header h1{font-size:1.15em;margin:0;display:inline}
header span{opacity:.85;margin-left:1em;font-size:.9em}
main{display:flex;gap:1em;padding:1em;align-items:flex-start}
nav{flex:0 0 26em;max-height:90vh;overflow:auto;background:#fff;border:1px solid #ddd}
nav a{display:block;padding:.5em .7em;border-bottom:1px solid #eee;color:inherit;text-decoration:none}
nav a.sel{background:#fde8d4}
nav small{color:#666;display:block}
article{flex:1;min-width:0;background:#fff;border:1px solid #ddd;padding:1em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0 0 1em}
dt{color:#666}dd{margin:0;overflow-wrap:anywhere}
iframe{width:100%;height:28em;border:1px solid #ccc;background:#fff}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:.8em}
h2{font-size:1em;margin:1.2em 0 .4em}
.err{color:#a00}
</style></head>
<body>
<header><h1>Correos capturados ({{len .List}})</h1><span>horas de {{.Zone}}</span></header>
<main>
<nav>{{$sel := ""}}{{with .Selected}}{{$sel = .File}}{{end}}
{{range .List}}<a href="/mail/{{.File}}"{{if eq .File $sel}} class="sel"{{end}}><b>{{.Subject}}</b><small>{{.To}}</small><small>recibido {{.Received.Format "02/01/2006 15:04:05 MST"}}</small></a>
{{else}}<p style="padding:1em">Aún no hay correos. Pida un resumen: <code>curl -X POST http://localhost:5000/dailySummary</code></p>{{end}}
</nav>
{{with .Selected}}<article>
<dl>
<dt>De</dt><dd>{{.From}}</dd>
<dt>Para</dt><dd>{{.To}}</dd>
{{if .Cc}}<dt>Cc</dt><dd>{{.Cc}}</dd>{{end}}
<dt>Asunto</dt><dd>{{.Subject}}</dd>
<dt>Fecha</dt><dd>{{.Date}}</dd>
<dt>Recibido</dt><dd>{{.Received.Format "02/01/2006 15:04:05 MST"}}</dd>
<dt>Message-ID</dt><dd>{{.MessageID}}</dd>
<dt>Archivo</dt><dd><a href="/mail/{{.File}}/raw" download>{{.File}}</a> (descargar .eml)</dd>
{{if .Attachments}}<dt>Adjuntos</dt><dd>{{range .Attachments}}{{.}} {{end}}</dd>{{end}}
</dl>
{{if .Err}}<p class="err">{{.Err}}</p>{{end}}
<h2>Parte HTML</h2>
{{if .HTML}}<iframe sandbox title="parte HTML" src="/mail/{{.File}}/html"></iframe>{{else}}<p>(sin parte HTML)</p>{{end}}
<h2>Parte de texto</h2>
{{if .Text}}<pre>{{.Text}}</pre>{{else}}<p>(sin parte de texto)</p>{{end}}
</article>{{end}}
</main></body></html>
`))
