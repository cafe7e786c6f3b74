package main

import (
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// proxy is "dpstack proxy": an L4 TCP proxy on the callback API, the
// reference application of that API. Each client connection gets an
// upstream connection dialed from the client's own core (CConn.Dial), and
// the two legs forward to each other without copying (CConn.Forward): the
// received buffers move from one connection's receive queue to the
// other's send queue, and a slow reader on either side closes the window
// on the other. A FIN is carried across as a FIN (the other way stays
// open), a reset or a failure as a reset. A client's first upstream is
// chosen by round robin or by a hash of its address; an upstream that
// refuses or does not answer within the connect timeout is given up for
// the next, while the client's first bytes wait in its receive queue.
type proxy struct {
	cfg       proxyConfig
	ln        *api.CListener
	upstreams []*upstream
	next      []int // per core: the round robin's next upstream
	refused   atomic.Int64
}

// upstream is one upstream server and its counters. They are written by
// every core as its connections come and go, never per packet.
type upstream struct {
	addr     string
	conns    atomic.Int64 // connections established
	active   atomic.Int64 // of them, open now
	failures atomic.Int64 // connects refused, timed out or failed
	resets   atomic.Int64 // connections that ended in a reset or an error
	bytesTo  atomic.Int64 // bytes from clients to it, counted as connections end
	bytesFro atomic.Int64 // bytes from it to clients, counted as connections end
}

// startProxy listens on the proxy's address on every core of h.
func startProxy(h *stack.Host, cfg proxyConfig) (*proxy, error) {
	p := &proxy{cfg: cfg, next: make([]int, h.Cores())}
	for _, u := range cfg.upstreams {
		p.upstreams = append(p.upstreams, &upstream{addr: u.String()})
	}
	ln, err := api.ListenCallback(h, cfg.listen.String(), clientSide{p})
	if err != nil {
		return nil, err
	}
	p.ln = ln
	return p, nil
}

// Close stops listening; the connections end with the host.
func (p *proxy) Close() error { return p.ln.Close() }

// first is the index of the first upstream to try for client c.
func (p *proxy) first(c *api.CConn) int {
	n := len(p.upstreams)
	if p.cfg.balance == balanceSource {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			b := a.AddrPort().Addr().As4()
			h := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) * 0x9e3779b1
			return int(h>>16) % n
		}
	}
	i := p.next[c.Core()]
	p.next[c.Core()] = (i + 1) % n
	return i
}

// session is one client and its upstream leg: both conns' Value.
type session struct {
	p          *proxy
	client, up *api.CConn
	u          *upstream // the upstream up connects to
	first      int       // the first upstream tried
	tried      int       // upstreams tried so far
	connected  bool      // up is established
	stopTimer  func() bool
	clientEOF  bool // the client sent its FIN
	upEOF      bool // the upstream sent its FIN
	over       bool
}

// clientSide handles the clients' connections.
type clientSide struct{ p *proxy }

// Accept dials the client's first upstream and starts forwarding both
// ways; what the client sends meanwhile waits in its receive queue.
func (h clientSide) Accept(c *api.CConn) {
	s := &session{p: h.p, client: c, first: h.p.first(c)}
	c.SetValue(s)
	c.SetNoDelay(true)
	s.dial()
}

// Data is not called while the client forwards.
func (clientSide) Data(*api.CConn, []byte) int { return 0 }

// Writable needs nothing: Forward waits for room itself.
func (clientSide) Writable(*api.CConn) {}

// Closed carries the client's FIN or failure to the upstream.
func (clientSide) Closed(c *api.CConn, err error) {
	s := c.Value().(*session)
	if err != nil {
		s.end(true)
		return
	}
	s.clientEOF = true
	if s.connected {
		s.up.CloseWrite()
	}
	s.endIfDone()
}

// upstreamSide handles the upstream legs.
type upstreamSide struct{}

// Accept: the upstream answered.
func (upstreamSide) Accept(c *api.CConn) {
	s := c.Value().(*session)
	s.stopTimer()
	s.connected = true
	s.u.conns.Add(1)
	s.u.active.Add(1)
	c.SetNoDelay(true)
	if s.clientEOF {
		c.CloseWrite()
	}
}

// Data is not called while the upstream forwards.
func (upstreamSide) Data(*api.CConn, []byte) int { return 0 }

// Writable needs nothing: Forward waits for room itself.
func (upstreamSide) Writable(*api.CConn) {}

// Closed tries the next upstream when the connect failed, and otherwise
// carries the upstream's FIN or failure to the client.
func (upstreamSide) Closed(c *api.CConn, err error) {
	s := c.Value().(*session)
	switch {
	case !s.connected:
		s.stopTimer()
		s.failover()
	case err != nil:
		s.end(true)
	default:
		s.upEOF = true
		s.client.CloseWrite()
		s.endIfDone()
	}
}

// dial connects to the next upstream to try, from the client's core, and
// forwards both ways; with every upstream tried, it resets the client.
func (s *session) dial() {
	p := s.p
	for s.tried < len(p.upstreams) {
		s.u = p.upstreams[(s.first+s.tried)%len(p.upstreams)]
		s.tried++
		up, err := s.client.Dial(s.u.addr, upstreamSide{})
		if err != nil {
			s.u.failures.Add(1)
			continue
		}
		s.up = up
		up.SetValue(s)
		s.client.Forward(up)
		up.Forward(s.client)
		s.stopTimer = up.AfterFunc(p.cfg.connectTimeout, s.timeout)
		return
	}
	p.refused.Add(1)
	s.up = nil
	s.end(true)
}

// timeout gives up an upstream that did not answer in time.
func (s *session) timeout() {
	if s.connected || s.over {
		return
	}
	s.failover()
}

// failover counts the upstream's failure, drops its leg and dials the next.
func (s *session) failover() {
	s.u.failures.Add(1)
	s.up.SetLinger(0)
	s.up.Close()
	s.up = nil
	s.dial()
}

// endIfDone closes both legs once each side has sent its FIN: all was
// forwarded, and the FINs are queued behind it.
func (s *session) endIfDone() {
	if s.clientEOF && s.upEOF {
		s.end(false)
	}
}

// end closes both legs, with a reset (SO_LINGER 0) when the session
// failed, and counts it.
func (s *session) end(reset bool) {
	if s.over {
		return
	}
	s.over = true
	if s.up != nil && !s.connected {
		s.stopTimer()
	}
	for _, c := range []*api.CConn{s.client, s.up} {
		if c == nil {
			continue
		}
		if reset {
			c.SetLinger(0)
		}
		c.Close()
	}
	if s.connected {
		s.u.active.Add(-1)
		s.u.bytesTo.Add(s.client.Forwarded())
		s.u.bytesFro.Add(s.up.Forwarded())
		if reset {
			s.u.resets.Add(1)
		}
	}
}

// Collectors are the proxy's metrics, by upstream.
func (p *proxy) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dpstack_proxy_refused_total", Help: "Client connections the proxy reset because no upstream answered.",
	}, func() float64 { return float64(p.refused.Load()) })}
	for _, u := range p.upstreams {
		labels := prometheus.Labels{"upstream": u.addr}
		counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
				func() float64 { return float64(v.Load()) })
		}
		cs = append(cs,
			counter("dpstack_proxy_upstream_connections_total", "Connections the proxy established to the upstream.", &u.conns),
			counter("dpstack_proxy_upstream_connect_failures_total", "Connects to the upstream refused, timed out or failed (the next upstream was tried).", &u.failures),
			counter("dpstack_proxy_upstream_resets_total", "Proxied connections through the upstream that ended in a reset or an error, carried across as a reset.", &u.resets),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "dpstack_proxy_upstream_active", Help: "Proxied connections open through the upstream.", ConstLabels: labels,
			}, func() float64 { return float64(u.active.Load()) }),
			bytesCounter(u.addr, "to", &u.bytesTo),
			bytesCounter(u.addr, "from", &u.bytesFro))
	}
	return cs
}

// bytesCounter is dpstack_proxy_upstream_bytes_total of one upstream, one
// direction.
func bytesCounter(addr, direction string, v *atomic.Int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dpstack_proxy_upstream_bytes_total", Help: "Bytes forwarded to (direction=\"to\") and from the upstream, counted as each connection ends.",
		ConstLabels: prometheus.Labels{"upstream": addr, "direction": direction},
	}, func() float64 { return float64(v.Load()) })
}
