package mail

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSMTPAcceptedThenResetFails: the server accepts the message (250 after
// DATA) and then drops the connection at the RSET that follows. The email
// was delivered: Send must say so, or a retry would deliver it twice.
func TestSMTPAcceptedThenResetFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go scriptedSMTP(conn, &accepted)
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: addr.Port, TLS: TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage("vendedor@example.com")); err != nil {
		t.Errorf("Send = %v, want nil: the server accepted the message", err)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("server accepted %d messages, want 1", n)
	}
}

// scriptedSMTP answers one SMTP session and hangs up at RSET.
func scriptedSMTP(conn net.Conn, accepted *atomic.Int32) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	write := func(s string) { conn.Write([]byte(s + "\r\n")) }
	write("220 localhost ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			write("250 localhost")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "NOOP"):
			write("250 OK")
		case cmd == "DATA":
			write("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			accepted.Add(1)
			write("250 queued")
		case cmd == "RSET":
			return // hang up: the RSET after the message fails
		case cmd == "QUIT":
			write("221 bye")
			return
		default:
			write("502 not implemented")
		}
	}
}
