package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLimitConnections: with n connections open (idle, kept alive), the
// next client's request is answered 503 with Retry-After, Connection: close
// and a problem body, read whole by a stock net/http client (no reset);
// once one of the n is closed, a new connection is served.
func TestLimitConnections(t *testing.T) {
	const n = 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	limited := LimitConnections(ln, n, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(limited) }()
	t.Cleanup(func() { srv.Close(); <-done })
	addr := ln.Addr().String()

	// n clients that keep their connection open after an answer.
	var kept []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /newOrder HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("connection %d: %v %v", len(kept), resp, err)
		}
		resp.Body.Close()
		kept = append(kept, c)
	}

	post := func() (*http.Response, string) {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Post("http://"+addr+"/newOrder", "application/json", strings.NewReader(`{"order_id": 1}`))
		if err != nil {
			t.Fatalf("past the bound: %v, want an answer", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i := range 20 { // never a reset instead of the answer
		resp, body := post()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close ||
			!strings.Contains(body, `"status":503`) {
			t.Fatalf("attempt %d past the bound: %d, Retry-After %q, %s, close %v: %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), resp.Close, body)
		}
	}
	// Past the bound a liveness probe is answered 204 (the process is alive),
	// readiness 503 (busy is not ready), and a client that sends nothing
	// within a second still gets the 503 rather than an empty close.
	for _, c := range []struct {
		send   string
		status int
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNoContent},
		{"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusNoContent},
		{"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusServiceUnavailable},
		{"GET /healthzz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusServiceUnavailable},
		{"", http.StatusServiceUnavailable},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, c.send)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: strings.Fields(c.send + "GET")[0]})
		if err != nil {
			t.Fatalf("%q past the bound: %v", c.send, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%q past the bound: %d, want %d", c.send, resp.StatusCode, c.status)
		}
	}
	kept[0].Close()
	// The server notices the close when its read ends; a few tries.
	for i := 0; ; i++ {
		resp, _ := post()
		if resp.StatusCode == http.StatusCreated {
			break
		}
		if i == 200 {
			t.Fatalf("a slot freed by a closed connection was not given back: %d", resp.StatusCode)
		}
	}
}
