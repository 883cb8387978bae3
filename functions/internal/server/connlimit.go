package server

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
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

// waitForRequest bounds how long a refused connection may stay silent
// (it holds a refusal slot meanwhile): as long as net/http gives a request's
// headers. Clients pool connections they dialled and did not use yet; the
// longer the wait, the likelier such a connection carries a request before
// it is given up on (fault scenario 9 saw 21 requests fail on connections
// given up on after 1 s, as they were being reused).
const waitForRequest = readHeaderTimeout

// refuseFor bounds how long a refused connection is kept after its answer:
// time for the answer to leave and the client to close.
const refuseFor = time.Second

// maxRefusing bounds the refused connections being answered at once
// (a few KiB each, for at most waitForRequest, or refuseFor once half are
// taken, and refuseFor after the answer); past it Accept waits for one to
// finish, and new connections wait in the kernel's backlog: never closed
// unanswered, which a client cannot tell from a crash.
const maxRefusing = 1024

// LimitConnections returns ln serving at most n connections at once (n 0:
// no bound). A connection past the bound is answered 503 with
// Retry-After (a liveness probe 204, a client silent for waitForRequest 408)
// and closed, without an HTTP server goroutine or its buffers:
// each open connection holds about 20 KiB in net/http (a goroutine, a 4 KiB
// reader and a 4 KiB writer, the request), so after a Kafka stall the
// thousands of clients that retry at once would cost more than the pod's
// memory (fault scenario 9) if every connection were served. Refusals are
// logged at most once a second.
//
// A connection within the bound reaches the HTTP server once it has sent
// its first byte; until then it is idle, as a kept connection between two
// requests is, and is closed after idleTimeout. Clients pool connections
// they dialled and did not use yet; net/http alone closes such a connection
// ReadHeaderTimeout (5 s) after it opened, and a request the client put on
// it at that moment failed (fault scenario 9, after a thaw: EOF). At the
// bound, a connection silent for ReadHeaderTimeout is answered 408 and
// closed to make room for a new one: silent connections cannot hold every
// slot for longer than net/http alone would let them.
func LimitConnections(ln net.Listener, n int, log *slog.Logger) net.Listener {
	if n <= 0 {
		n = math.MaxInt32
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, max: int64(n), log: log, logRefusal: &rate.Sometimes{Interval: time.Second},
		refusing: make(chan struct{}, maxRefusing), ready: make(chan net.Conn), failed: make(chan error),
		stop: make(chan struct{}), silent: list.New(), idleFor: idleTimeout, evictAfter: readHeaderTimeout}
}

type limitListener struct {
	net.Listener
	max        int64
	open       atomic.Int64
	refusing   chan struct{} // a slot per refusal being answered
	log        *slog.Logger
	logRefusal *rate.Sometimes

	start  sync.Once
	ready  chan net.Conn // connections that sent their first byte
	failed chan error    // Accept's errors, for the HTTP server to judge
	stop   chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	silent *list.List // of *limitedConn that sent nothing yet, oldest first
	// idleFor is how long a connection may stay silent before its first
	// byte: idleTimeout, as between two requests.
	idleFor time.Duration
	// evictAfter: at the bound, a connection silent for this long
	// (readHeaderTimeout, what net/http alone would give it) makes room for
	// a new one, so that silent connections cannot hold every slot.
	evictAfter time.Duration
}

// Accept returns the next connection within the bound that has sent its
// first byte, or the error of the listener's Accept.
func (l *limitListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.accept() })
	select { // closed wins over a connection still ready
	case <-l.stop:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.failed:
		return nil, err
	case <-l.stop:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and the connections that sent nothing yet
// (the HTTP server knows nothing of them).
func (l *limitListener) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
		for e := l.silent.Front(); e != nil; e = e.Next() {
			_ = e.Value.(*limitedConn).Conn.Close()
		}
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

func (l *limitListener) accept() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.failed <- err: // net/http retries a temporary error
				continue
			case <-l.stop:
				return
			}
		}
		if l.open.Add(1) <= l.max || l.evictSilent() {
			go l.awaitFirstByte(&limitedConn{Conn: c, l: l})
			continue
		}
		l.open.Add(-1)
		l.logRefusal.Do(func() {
			l.log.Warn("refusing connections: too many open", "max_connections", l.max)
		})
		select {
		case l.refusing <- struct{}{}:
		case <-l.stop:
			_ = c.Close()
			return
		}
		// Past half the refusal slots a silent client is not waited for as
		// long: the slots are what keeps Accept going.
		wait := waitForRequest
		if len(l.refusing) > maxRefusing/2 {
			wait = refuseFor
		}
		go func() {
			defer func() { <-l.refusing }()
			refuse(c, wait)
		}()
	}
}

// evictSilent ends the wait of the oldest connection that has sent
// nothing for evictAfter, reporting whether there was one: it is answered
// 408 and closed (awaitFirstByte), and a new connection takes its place
// (the count is one over the bound until it has closed).
func (l *limitListener) evictSilent() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.silent.Front()
	if e == nil {
		return false
	}
	c := e.Value.(*limitedConn)
	if time.Since(c.since) < l.evictAfter {
		return false
	}
	l.silent.Remove(e)
	c.elem, c.evicted = nil, true
	_ = c.Conn.SetReadDeadline(time.Now()) // ends its wait
	return true
}

// awaitFirstByte hands c to the HTTP server once it has sent a byte, and
// closes it if it sends nothing for idleFor or closes first.
func (l *limitListener) awaitFirstByte(c *limitedConn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	c.since = time.Now()
	_ = c.Conn.SetReadDeadline(c.since.Add(l.idleFor))
	c.elem = l.silent.PushBack(c)
	l.mu.Unlock()
	n, _ := c.Conn.Read(c.first[:])
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	evicted := c.evicted
	l.mu.Unlock()
	if n == 0 {
		if evicted {
			answer(c, silentRefusal)
		}
		_ = c.Close()
		return
	}
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.unread = true
	select {
	case <-l.stop:
		_ = c.Close()
		return
	default:
	}
	select {
	case l.ready <- c:
	case <-l.stop:
		_ = c.Close()
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
func refuse(c net.Conn, wait time.Duration) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	var buf [512]byte
	n, err := c.Read(buf[:])
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return // the client is gone
	}
	a := refusal
	switch {
	case n == 0:
		a = silentRefusal
	case isLivenessProbe(buf[:n]):
		a = alive
	}
	answer(c, a)
}

// answer writes a to c and reads what follows until the client closes or
// refuseFor passes: a socket closed with unread data sends a reset, which
// can reach the client before it has read the answer. The caller closes c.
func answer(c net.Conn, a []byte) {
	_ = c.SetDeadline(time.Now().Add(refuseFor))
	if _, err := c.Write(a); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	var buf [512]byte
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
// connection more than once), and first returns the byte awaitFirstByte
// read.
type limitedConn struct {
	net.Conn
	l      *limitListener
	once   sync.Once
	first  [1]byte
	unread bool // first is still to be read

	// Under l.mu: while waiting for the first byte, its place in l.silent,
	// since when, and whether evictSilent ended the wait.
	elem    *list.Element
	since   time.Time
	evicted bool
}

// CloseWrite and ReadFrom reach the TCP connection's own: net/http half-closes
// before it closes a connection with a request body left unread, and sends
// files with sendfile.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.unread && len(p) > 0 {
		c.unread = false
		p[0] = c.first[0]
		return 1, nil
	}
	return c.Conn.Read(p)
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
