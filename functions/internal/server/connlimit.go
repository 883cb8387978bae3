package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// refusal is the whole answer to a connection past the bound: RFC 9110
// §15.6.4 503 with Retry-After, an RFC 9457 problem body, and
// Connection: close (RFC 9112 §9.6) so that the client does not keep it.
var refusal = canned(http.StatusServiceUnavailable, "too many connections; retry the same request")

// silentRefusal answers a connection past the bound on which no request
// came within waitForRequest: 408 (RFC 9110 §15.5.9), which a server may send on
// an idle connection before closing it. Clients pool connections they dialled
// and did not use yet; a 503 arriving there is an answer to no request, and a
// request the client puts on that connection at the same moment fails with
// EOF (Go's transport logs "Unsolicited response received on idle HTTP
// channel"; fault scenario 9 saw 32 such failures after a thaw). A 408 is
// what clients expect there (Go's transport takes it as the server closing
// an idle connection), and to a request that crosses it, it is an answer
// the client may retry.
var silentRefusal = canned(http.StatusRequestTimeout, "no request within 5s and too many connections; retry the same request")

// canned is a whole HTTP/1.1 answer with status, Retry-After: 1, a problem
// body with detail, and Connection: close.
func canned(status int, detail string) []byte {
	body, _ := json.Marshal(problem.Details{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: " + problem.ContentType + "\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// waitForRequest bounds how long a refused connection may stay silent: the
// time net/http gives any new connection for its headers (readHeaderTimeout).
// Clients pool connections they dialled and did not use yet; the longer the
// wait, the likelier such a connection carries a request before the server
// gives up on it (fault scenario 9 saw 21 requests fail on connections
// given up on after 1 s, as they were being reused).
const waitForRequest = readHeaderTimeout

// refuseFor bounds how long a refused connection is kept after its answer:
// time for the answer to leave and the client to close.
const refuseFor = time.Second

// maxRefusing bounds the refused connections being answered at once
// (a few KiB each, for at most waitForRequest and refuseFor); past it Accept waits for one to
// finish, and new connections wait in the kernel's backlog: never closed
// unanswered, which a client cannot tell from a crash.
const maxRefusing = 1024

// LimitConnections returns ln serving at most n connections at once (n 0:
// ln itself). A connection past the bound is answered 503 with
// Retry-After and closed, without an HTTP server goroutine or its buffers:
// each open connection holds about 20 KiB in net/http (a goroutine, a 4 KiB
// reader and a 4 KiB writer, the request), so after a Kafka stall the
// thousands of clients that retry at once would cost more than the pod's
// memory (fault scenario 9) if every connection were served. Refusals are
// logged at most once a second.
func LimitConnections(ln net.Listener, n int, log *slog.Logger) net.Listener {
	if n <= 0 {
		return ln
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, max: int64(n), log: log, logRefusal: &rate.Sometimes{Interval: time.Second},
		refusing: make(chan struct{}, maxRefusing)}
}

type limitListener struct {
	net.Listener
	max        int64
	open       atomic.Int64
	refusing   chan struct{} // a slot per refusal being answered
	log        *slog.Logger
	logRefusal *rate.Sometimes
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.logRefusal.Do(func() {
			l.log.Warn("refusing connections: too many open", "max_connections", l.max)
		})
		l.refusing <- struct{}{}
		go func() {
			defer func() { <-l.refusing }()
			refuse(c)
		}()
	}
}

// alive is the answer to a liveness probe on a connection past the bound:
// the process answers, so it is alive (a kubelet that restarted it for being
// busy would make the burst worse). /readyz gets refusal: busy is not ready.
var alive = []byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

// refuse answers c with refusal (alive for GET or HEAD /healthz) and closes
// it. It first waits up to waitForRequest for the request, to tell a probe and so
// that the answer does not cross it; a client that sent nothing by then gets
// silentRefusal. After the answer it reads what follows until the
// client closes or refuseFor passes: a socket closed with unread data sends
// a reset, which can reach the client before it has read the answer.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitForRequest))
	var buf [512]byte
	n, err := c.Read(buf[:])
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return // the client is gone
	}
	answer := refusal
	switch {
	case n == 0:
		answer = silentRefusal
	case isLivenessProbe(buf[:n]):
		answer = alive
	}
	_ = c.SetDeadline(time.Now().Add(refuseFor))
	if _, err := c.Write(answer); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// isLivenessProbe reports whether request starts as a GET or HEAD of
// /healthz (RFC 9112 §3: method SP request-target SP).
func isLivenessProbe(request []byte) bool {
	for _, m := range []string{"GET ", "HEAD "} {
		if rest, ok := bytes.CutPrefix(request, []byte(m)); ok {
			return bytes.HasPrefix(rest, []byte("/healthz ")) || bytes.HasPrefix(rest, []byte("/healthz?"))
		}
	}
	return false
}

// limitedConn gives its slot back when closed (once: net/http may close a
// connection more than once).
type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
