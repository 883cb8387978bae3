package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// silentProxy is a TCP proxy between the functions and a broker that can
// play a network partition as TCP lives through one: while cut, nothing is
// forwarded and nothing is closed; a segment that finds the link cut is
// lost and sent again at the sender's next retransmission, the timeout
// doubling from 200 ms for data (Linux's minimum RTO) and from 1 s for a
// connection's SYN, up to 120 s. So after the heal the same connections
// work again, but only once their retransmission comes: data first held
// at the start of a 20 s cut gets through 25.4 s after it, 5.4 s after the
// heal. A client that waits for that (as one with a 30 s read timeout does)
// recovers late; one that gives up on a silent connection and dials a new
// one recovers at once.
//
// What the proxy cannot play: the functions' own kernel has its data
// acknowledged by the proxy's, so their keep-alives and TCP_USER_TIMEOUT
// never fire here; only their read timeouts notice a silent broker. And a
// connection dialled during the cut completes its handshake with the
// proxy; its SYN and data are held, as the SYN's retransmissions would be.
type silentProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool

	mu     sync.Mutex
	closed bool
	conns  map[*proxied]struct{}
}

// Initial retransmission timeouts, and the most the backoff reaches.
const (
	dataRTO = 200 * time.Millisecond
	synRTO  = time.Second
	maxRTO  = 120 * time.Second
)

// proxied is one client connection and, once "established", its
// connection to the target.
type proxied struct {
	client, server net.Conn
	done           chan struct{} // closed when the connection ends
	once           sync.Once
	ends           atomic.Int32 // directions finished
}

// segment is what one read got, and when: nil data is the sender's FIN.
type segment struct {
	data []byte
	at   time.Time
}

// newSilentProxy listens on addr (127.0.0.1:port) and forwards to target.
func newSilentProxy(addr, target string) (*silentProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &silentProxy{ln: ln, target: target, conns: map[*proxied]struct{}{}}
	go p.accept()
	return p, nil
}

func (p *silentProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		pc := &proxied{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		go p.serve(pc, time.Now())
	}
}

// serve "establishes" pc once its SYN gets through, then forwards both
// ways. What the client sends before is queued, as its kernel would.
func (p *silentProxy) serve(pc *proxied, accepted time.Time) {
	up := make(chan segment, 256)
	go p.read(pc, pc.client, up)
	if !p.await(pc, accepted, synRTO) {
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(pc)
		return
	}
	p.mu.Lock()
	pc.server = s
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.drop(pc)
		return
	}
	established := time.Now()
	down := make(chan segment, 256)
	go p.read(pc, s, down)
	go p.write(pc, s, up, established)
	p.write(pc, pc.client, down, established)
}

// read queues what src sends, stamped with when it was sent.
func (p *silentProxy) read(pc *proxied, src net.Conn, out chan<- segment) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case out <- segment{data: append([]byte(nil), buf[:n]...), at: time.Now()}:
			case <-pc.done:
				return
			}
		}
		if err != nil {
			select {
			case out <- segment{at: time.Now()}:
			case <-pc.done:
			}
			return
		}
	}
}

// write delivers in order what in holds, each segment once it gets
// through (await); one sent while an earlier one was still held follows
// it at once, as a sender's queue does after the retransmission that got
// through. A FIN half-closes dst; when both ways are done, pc ends.
func (p *silentProxy) write(pc *proxied, dst net.Conn, in <-chan segment, established time.Time) {
	last := established
	for {
		var seg segment
		select {
		case seg = <-in:
		case <-pc.done:
			return
		}
		if !p.await(pc, later(seg.at, last), dataRTO) {
			return
		}
		last = time.Now()
		if seg.data == nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			if pc.ends.Add(1) == 2 {
				p.drop(pc)
			}
			return
		}
		if _, err := dst.Write(seg.data); err != nil {
			p.drop(pc)
			return
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// await returns once a segment first sent at finds the link up: at itself,
// or the first retransmission after, the timeout doubling from rto. False
// when pc ended meanwhile.
func (p *silentProxy) await(pc *proxied, at time.Time, rto time.Duration) bool {
	next := at
	for {
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-pc.done:
				t.Stop()
				return false
			}
		}
		select {
		case <-pc.done:
			return false
		default:
		}
		if !p.cut.Load() {
			return true
		}
		next = next.Add(rto)
		rto = min(2*rto, maxRTO)
	}
}

func (p *silentProxy) drop(pc *proxied) {
	pc.once.Do(func() {
		close(pc.done)
		p.mu.Lock()
		delete(p.conns, pc)
		server := pc.server
		p.mu.Unlock()
		pc.client.Close()
		if server != nil {
			server.Close()
		}
	})
}

// partition starts a silent partition.
func (p *silentProxy) partition() { p.cut.Store(true) }

// heal ends it: every held segment gets through at its next retransmission.
func (p *silentProxy) heal() { p.cut.Store(false) }

// close stops the proxy and closes every connection.
func (p *silentProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxied, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		p.drop(pc)
	}
}
