package main

import (
	"time"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/internal/httphello"
)

// helloService serves the HTTP hello (package httphello) with the callback
// API: request heads are parsed in the packet's own bytes on the polling
// core (copied only when one spans packets), and each answer is one Send.
// A connection that completes no request for idle is closed, as net/http's
// IdleTimeout and ReadHeaderTimeout would.
type helloService struct{ serviceConf }

// helloConn is one connection's state; its progress is requests answered.
type helloConn struct {
	idleWatch
	head []byte // the start of a request head that spans packets
	out  []byte // the answer being built
}

func (s helloService) Accept(c *api.CConn) {
	c.SetNoDelay(true)
	s.start(c, &helloConn{})
}

// Data answers every complete request head in data, and keeps an
// incomplete one for the next packet.
func (helloService) Data(c *api.CConn, data []byte) int {
	hc := c.Value().(*helloConn)
	buf := data
	if len(hc.head) > 0 {
		hc.head = append(hc.head, data...)
		buf = hc.head
	}
	for len(buf) > 0 {
		n, tooLong := httphello.Scan(buf)
		if tooLong {
			hc.out = httphello.TooLong(hc.out[:0], time.Now())
			hc.send(c, false)
			return len(data)
		}
		if n == 0 {
			break
		}
		var keepAlive bool
		hc.out, keepAlive = httphello.Answer(hc.out[:0], buf[:n], time.Now())
		hc.progress++
		if !hc.send(c, keepAlive) {
			return len(data)
		}
		buf = buf[n:]
	}
	// Keep what is left of an incomplete head (moved within hc.head's
	// own storage when it already lives there).
	hc.head = append(hc.head[:0], buf...)
	return len(data)
}

// send sends the answer in hc.out and reports whether the connection stays
// open. An answer the send buffer cannot take whole means a client that
// pipelines requests without reading the answers: it loses the connection.
func (hc *helloConn) send(c *api.CConn, keepAlive bool) bool {
	if n, err := c.Send(hc.out); err != nil || n < len(hc.out) {
		c.SetLinger(0)
		keepAlive = false
	}
	if !keepAlive {
		hc.end(c)
	}
	return keepAlive
}

func (helloService) Writable(*api.CConn) {}

// Closed closes c when the client is done or the connection failed.
func (helloService) Closed(c *api.CConn, err error) { end(c) }
