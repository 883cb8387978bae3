package smtptest

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
)

// Email is a received message as a mail reader shows it.
type Email struct {
	Header  netmail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded, with \n line ends
	HTML    string // the text/html part, decoded, with \n line ends
}

// Parse reads m's data as a mail reader would: the header with net/mail,
// the body as multipart/alternative with a text and an HTML part. It fails
// on anything else.
func (m Message) Parse() (Email, error) {
	msg, err := netmail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return Email{}, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	e := Email{Header: msg.Header}
	if e.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Email{}, fmt.Errorf("subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		return Email{}, fmt.Errorf("content type %q is not multipart/alternative: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Email{}, fmt.Errorf("reading parts: %w", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return Email{}, fmt.Errorf("reading part: %w", err)
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			e.Text = text
		case "text/html":
			e.HTML = text
		default:
			return Email{}, fmt.Errorf("unexpected part %q", ct)
		}
	}
	if e.Text == "" || e.HTML == "" {
		return Email{}, fmt.Errorf("want a text and an HTML part")
	}
	return e, nil
}
