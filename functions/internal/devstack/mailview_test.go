package devstack

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostile is an email whose HTML part tries to run script every way it
// can; the view must show its text and run none of it.
const hostile = "From: =?utf-8?q?Mall=C3=A9?= <x@example.com>\r\n" +
	"To: v@example.com\r\n" +
	"Subject: =?utf-8?q?=C2=A1Hola_se=C3=B1or!?=\r\n" +
	"Date: Fri, 13 Nov 2021 23:30:00 +0000\r\n" +
	"Message-ID: <hostile@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"texto plano: se=C3=B1or\r\n" +
	"--b\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"%s\r\n" +
	"--b--\r\n"

const hostileHTML = `<html><body><p id="p">parte html visible</p>` +
	`<script>document.getElementById("p").textContent="SCRIPT RAN";top.document.title="SCRIPT RAN"</script>` +
	`<img src="x" onerror="document.body.textContent='SCRIPT RAN'">` +
	`<img src="http://127.0.0.1:1/pixel.gif"></body></html>`

func TestMailViewParsesEveryPart(t *testing.T) {
	dir := t.TempDir()
	writeHostile(t, dir, "20211113T233000.000000Z-1-0001.eml", time.Date(2021, 11, 13, 23, 30, 0, 0, time.UTC))
	santiago, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := readMail(filepath.Join(dir, "20211113T233000.000000Z-1-0001.eml"), santiago)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"From", v.From, "Mallé <x@example.com>"},
		{"Subject", v.Subject, "¡Hola señor!"},
		// 23:30 UTC on 13 Nov 2021 is 20:30 in Santiago (summer time, -03).
		{"Date", v.Date, "13/11/2021 20:30:00 -03"},
		{"Message-ID", v.MessageID, "<hostile@example.com>"},
		{"text part", v.Text, "texto plano: señor"},
		{"HTML part", v.HTML, hostileHTML},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestMailViewListsEveryFileNewestFirst(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2021, 11, 13, 12, 0, 0, 0, time.UTC)
	// Names that do not sort by time: the list goes by when each arrived.
	writeHostile(t, dir, "b.eml", base)
	writeHostile(t, dir, "a.eml", base.Add(time.Hour))
	writeHostile(t, dir, "c.eml", base.Add(-time.Hour))
	os.WriteFile(filepath.Join(dir, ".incoming-123"), []byte("half"), 0o644)
	c := &Catcher{Dir: dir, Log: slog.New(slog.DiscardHandler)}
	list, err := c.list()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.File)
	}
	if strings.Join(got, " ") != "a.eml b.eml c.eml" {
		t.Errorf("listed %v, want [a.eml b.eml c.eml]", got)
	}

	srv := httptest.NewServer(c.WebHandler())
	defer srv.Close()
	for _, c := range []struct {
		path, wantType string
		wantStatus     int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/mail/a.eml/raw", "message/rfc822", 200},
		{"/mail/a.eml/html", "text/html; charset=utf-8", 200},
		{"/mail/..%2f..%2fetc%2fpasswd/raw", "", 404},
		{"/mail/.incoming-123/raw", "", 404},
		{"/mail/missing.eml", "", 404},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.wantStatus || (c.wantType != "" && resp.Header.Get("Content-Type") != c.wantType) {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.wantStatus, c.wantType)
		}
		if strings.HasSuffix(c.path, "/html") && !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox;") {
			t.Errorf("GET %s: Content-Security-Policy %q, want a sandbox", c.path, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestMailViewSandboxInChromium shows a hostile email in a real browser:
// its HTML is rendered, none of its script runs.
func TestMailViewSandboxInChromium(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	writeHostile(t, dir, "hostile.eml", time.Now())
	c := &Catcher{Dir: dir, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(c.WebHandler())
	defer srv.Close()

	got := viewInBrowser(t, ctx, srv.URL+"/")
	if got.Frame != "parte html visible" {
		t.Errorf("the HTML part shows %q, want %q (its scripts must not run)", got.Frame, "parte html visible")
	}
	if got.Sandbox != "" {
		t.Errorf("iframe sandbox=%q, want an empty sandbox (no scripts, no same origin)", got.Sandbox)
	}
	for _, want := range []string{"¡Hola señor!", "texto plano: señor", "<hostile@example.com>", "horas de UTC"} {
		if !strings.Contains(got.Page, want) {
			t.Errorf("the page lacks %q:\n%s", want, got.Page)
		}
	}
	if strings.Contains(got.Page, "SCRIPT RAN") {
		t.Error("a script of the email ran in the page")
	}
}

func writeHostile(t *testing.T, dir, name string, mtime time.Time) {
	t.Helper()
	b64 := base64Lines(hostileHTML)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Replace(hostile, "%s", b64, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// base64Lines encodes s as a MIME body: base64 in lines of 76.
func base64Lines(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var lines []string
	for len(enc) > 76 {
		lines, enc = append(lines, enc[:76]), enc[76:]
	}
	return strings.Join(append(lines, enc), "\r\n")
}
