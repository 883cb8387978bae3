package main

import (
	"net"
	"sync"
)

// silentProxy is a TCP proxy between the functions and a broker that can
// play a network partition: while cut, it forwards nothing and closes
// nothing, as a network dropping packets does. Connections open when the
// cut begins stay silent for good: their data would only get through at the
// next TCP retransmission, whose backoff after a 20 s outage outlasts the
// test, so the client must notice them dead by itself. Connections made
// during the cut (a kernel completing the handshake is as far as they get)
// are released when it heals, like a retransmitted SYN getting through.
type silentProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	cut    bool
	closed bool
	conns  map[*proxied]struct{}
}

type proxied struct {
	client, server net.Conn
	dead           bool // open when a cut began
	done           bool
}

// newSilentProxy listens on addr (127.0.0.1:port) and forwards to target.
func newSilentProxy(addr, target string) (*silentProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &silentProxy{ln: ln, target: target, conns: map[*proxied]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	return p, nil
}

func (p *silentProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxied{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		go p.pipe(pc, c, s)
		go p.pipe(pc, s, c)
	}
}

// pipe copies src to dst, holding every chunk while the proxy is cut (for
// good on a dead connection).
func (p *silentProxy) pipe(pc *proxied, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(pc) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil { // EOF or a closed connection: the other side goes too
			p.drop(pc)
			return
		}
	}
}

// pass waits until pc may forward; false once it is closed.
func (p *silentProxy) pass(pc *proxied) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for (p.cut || pc.dead) && !pc.done && !p.closed {
		p.cond.Wait()
	}
	return !pc.done && !p.closed
}

func (p *silentProxy) drop(pc *proxied) {
	p.mu.Lock()
	if !pc.done {
		pc.done = true
		pc.client.Close()
		pc.server.Close()
		delete(p.conns, pc)
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}

// partition starts a silent partition.
func (p *silentProxy) partition() {
	p.mu.Lock()
	p.cut = true
	for pc := range p.conns {
		pc.dead = true
	}
	p.mu.Unlock()
}

// heal ends it: connections made during the cut flow again.
func (p *silentProxy) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.cond.Broadcast()
}

// close stops the proxy and closes every connection.
func (p *silentProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for pc := range p.conns {
		pc.done = true
		pc.client.Close()
		pc.server.Close()
	}
	p.conns = map[*proxied]struct{}{}
	p.mu.Unlock()
	p.cond.Broadcast()
}
