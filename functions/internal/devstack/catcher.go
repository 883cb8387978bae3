package devstack

import (
	"bytes"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sopaipillas/sopaipillas/functions/internal/mail/smtptest"
)

// Catcher is the local mail catcher of `make dev`: an SMTP server that
// accepts every email and saves it as an .eml file in Dir, and a web view
// (WebHandler) of every .eml file in Dir.
type Catcher struct {
	Dir string
	// Location is the time zone the web view shows times in (the business
	// time zone, SUMMARY_TIMEZONE); nil is UTC.
	Location *time.Location
	Log      *slog.Logger

	mu     sync.Mutex
	seq    int
	caught []caughtMail
}

type caughtMail struct {
	File, To, Subject string
}

// Caught is one email as the catcher received it.
type Caught struct {
	To, Subject string
	Raw         []byte
}

// Messages returns what this catcher received since it started, one entry
// per envelope recipient.
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

// save writes the message under a name that sorts by arrival and is unique
// across restarts (UTC time to the microsecond, PID, sequence), whole or
// not at all.
func (c *Catcher) save(to []string, data []byte) error {
	subject := ""
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	name := fmt.Sprintf("%s-%d-%04d.eml", time.Now().UTC().Format("20060102T150405.000000Z"), os.Getpid(), c.seq)
	if err := writeFileAtomic(filepath.Join(c.Dir, name), data); err != nil {
		return fmt.Errorf("saving %s: %w", name, err)
	}
	for _, rcpt := range to {
		c.caught = append(c.caught, caughtMail{File: name, To: rcpt, Subject: subject})
	}
	c.Log.Info("mail caught", "file", filepath.Join(c.Dir, name), "subject", subject)
	return nil
}
