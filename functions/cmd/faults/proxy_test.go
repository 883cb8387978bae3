package main

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestSilentProxyRetransmits(t *testing.T) {
	tests := []struct {
		name string
		// dialDuringCut dials after the cut began (the SYN is held), else
		// before it (an open connection's data is held).
		dialDuringCut bool
		cut           time.Duration
		// want is when the answer may come at the earliest, after the
		// write: the first retransmission after the heal.
		want time.Duration
	}{
		// data: lost at 0, 0.2 s, 0.6 s; the retransmission at 1.4 s gets through
		{name: "open connection", cut: 700 * time.Millisecond, want: 1400 * time.Millisecond},
		// SYN: lost at 0; the one at 1 s gets through
		{name: "dialled during the cut", dialDuringCut: true, cut: 700 * time.Millisecond, want: time.Second},
		// data sent after a short cut healed goes at once
		{name: "no cut", cut: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newSilentProxy("127.0.0.1:0", echoServer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			addr := p.ln.Addr().String()
			var c net.Conn
			if !tt.dialDuringCut {
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				// The connection works before the cut.
				if got := roundTrip(t, c, "before\n"); got != "before\n" {
					t.Fatalf("before the cut: got %q", got)
				}
			}
			if tt.cut > 0 {
				p.partition()
				time.AfterFunc(tt.cut, p.heal)
			}
			if tt.dialDuringCut {
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
			}
			defer c.Close()
			start := time.Now()
			if got := roundTrip(t, c, "held\n"); got != "held\n" {
				t.Fatalf("got %q, want %q", got, "held\n")
			}
			took := time.Since(start)
			if took < tt.want || took > tt.want+500*time.Millisecond {
				t.Errorf("answer after %s, want at %s (+ up to 500ms)", took, tt.want)
			}
		})
	}
}

func roundTrip(t *testing.T, c net.Conn, line string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return got
}
