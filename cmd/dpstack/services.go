package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// The built-in services' ports.
const (
	echoPort    = 7    // echo, RFC 862
	discardPort = 9    // discard, RFC 863
	httpPort    = 8080 // an HTTP hello
)

// services are the built-in services of "dpstack run": echo (over TCP and
// UDP), discard and an HTTP hello. All use the callback API, because nothing in
// dpstack answers sooner: they run on the polling core that received the
// request, read it in the packet's own bytes, answer with one Send (one
// copy, into the reply's mbuf), and wake no goroutine and no other thread.
// A blocking-API server (net/http over api.Listen, as in api's tests) pays
// two thread wakeups per exchange on top: the core waking the reader, the
// writer waking the core.
type services struct {
	log    *slog.Logger
	lns    []io.Closer
	counts []*connCount
	sp     *sockperfStats // nil without the sockperf server
}

// startServices listens on the services' ports on every address of h;
// the UDP echo and the sockperf server join the multicast groups join.
// Each closes a connection that makes no progress for idle (idleWatch), so
// that peers that vanished without a word leave nothing behind; together
// they hold at most maxConns connections (connLimit). sockperfPort, when
// not 0, is where the sockperf server listens (UDP and TCP).
func startServices(h *stack.Host, idle time.Duration, maxConns, sockperfPort int, join []netip.Addr, log *slog.Logger) (*services, error) {
	s := &services{log: log}
	limit := &connLimit{max: int64(maxConns)}
	conf := func(name string) serviceConf {
		c := &connCount{name: name, limit: limit}
		s.counts = append(s.counts, c)
		return serviceConf{idle: idle, count: c}
	}
	for _, svc := range []struct {
		port int
		hd   api.Handler
	}{
		{echoPort, echoService{conf("echo")}},
		{discardPort, discardService{conf("discard")}},
		{httpPort, helloService{conf("http")}},
	} {
		ln, err := api.ListenCallback(h, fmt.Sprintf(":%d", svc.port), svc.hd)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("service on port %d: %w", svc.port, err)
		}
		s.lns = append(s.lns, ln)
	}
	uln, err := api.ListenUDPCallback(h, fmt.Sprintf(":%d", echoPort), udpEchoService{})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("UDP echo on port %d: %w", echoPort, err)
	}
	s.lns = append(s.lns, uln)
	if err := joinAll(uln, join); err != nil {
		s.Close()
		return nil, fmt.Errorf("UDP echo: %w", err)
	}
	if sockperfPort != 0 {
		if err := s.startSockperf(h, sockperfPort, join, conf("sockperf")); err != nil {
			s.Close()
			return nil, err
		}
		log.Info("sockperf server", "udp", fmt.Sprintf("%v:%d", h.Addr().Addr(), sockperfPort), "tcp", fmt.Sprintf("%v:%d", h.Addr().Addr(), sockperfPort))
	}
	addr := h.Addr().Addr()
	log.Info("services", "echo", fmt.Sprintf("%v:%d", addr, echoPort), "udp_echo", fmt.Sprintf("%v:%d", addr, echoPort), "discard", fmt.Sprintf("%v:%d", addr, discardPort),
		"http", fmt.Sprintf("http://%v:%d/", addr, httpPort), "max_conns", maxConns, "joined", join)
	return s, nil
}

// Close stops listening. Connections already accepted belong to their
// cores and end with the host. Call it before the host closes.
func (s *services) Close() error {
	var errs []error
	for _, ln := range s.lns {
		errs = append(errs, ln.Close())
	}
	s.log.Info("services stopped")
	return errors.Join(errs...)
}

// Collectors are the services' metrics: connections open and refused, by
// service.
func (s *services) Collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, c := range s.counts {
		labels := prometheus.Labels{"service": c.name}
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "dpstack_service_connections", Help: "Connections a built-in service holds.", ConstLabels: labels,
			}, func() float64 { return float64(c.open.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "dpstack_service_refused_total", Help: "Connections a built-in service reset at once: --max-conns was reached.", ConstLabels: labels,
			}, func() float64 { return float64(c.refused.Load()) }))
	}
	if s.sp != nil {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dpstack_sockperf_malformed_total", Help: "sockperf messages dropped as malformed: a datagram shorter than the 14-byte header or whose length field disagrees with its size, a TCP header whose length is out of range (its connection is reset).",
		}, func() float64 { return float64(s.sp.malformed.Load()) }))
	}
	return cs
}

// startSockperf serves the sockperf protocol on port, over UDP and TCP;
// the UDP socket joins the groups join (sockperf ping-pong -i GROUP).
func (s *services) startSockperf(h *stack.Host, port int, join []netip.Addr, conf serviceConf) error {
	s.sp = &sockperfStats{}
	ln, err := api.ListenCallback(h, fmt.Sprintf(":%d", port), sockperfTCP{conf, s.sp})
	if err != nil {
		return fmt.Errorf("sockperf on TCP port %d: %w", port, err)
	}
	s.lns = append(s.lns, ln)
	uln, err := api.ListenUDPCallback(h, fmt.Sprintf(":%d", port), sockperfUDP{s.sp})
	if err != nil {
		return fmt.Errorf("sockperf on UDP port %d: %w", port, err)
	}
	s.lns = append(s.lns, uln)
	if err := joinAll(uln, join); err != nil {
		return fmt.Errorf("sockperf: %w", err)
	}
	return nil
}

// joinAll has ln's sockets, one per core, join the groups.
func joinAll(ln *api.CUDPListener, groups []netip.Addr) error {
	for _, g := range groups {
		if err := ln.JoinGroup(nil, &net.UDPAddr{IP: g.AsSlice()}); err != nil {
			return fmt.Errorf("joining %v: %w", g, err)
		}
	}
	return nil
}

// connLimit caps the connections the services hold at once, across cores
// (as a proxy's maxconn): one atomic add per connection, none per packet.
type connLimit struct {
	max  int64
	open atomic.Int64
}

// connCount is one service's share of the limit, and its counts.
type connCount struct {
	name    string
	limit   *connLimit
	open    atomic.Int64
	refused atomic.Uint64
}

// admit keeps c if the limit allows one more connection, and otherwise
// resets it at once, counted: the client learns at once rather than after
// a timeout, and the connection holds nothing.
func (n *connCount) admit(c *api.CConn) bool {
	if n.limit.open.Add(1) > n.limit.max {
		n.limit.open.Add(-1)
		n.refused.Add(1)
		c.SetLinger(0)
		c.Close()
		return false
	}
	n.open.Add(1)
	return true
}

// release gives an admitted connection's place back.
func (n *connCount) release() {
	n.open.Add(-1)
	n.limit.open.Add(-1)
}

// serviceConf is what every service is given: the idle timeout and its
// connection count.
type serviceConf struct {
	idle  time.Duration
	count *connCount
}

// start admits c and starts watching it, with v as its Value.
func (s serviceConf) start(c *api.CConn, v watched) {
	if s.count.admit(c) {
		c.SetValue(v)
		v.watch().start(c, s)
	}
}

// echoService echoes (RFC 862) on the core: each view of received bytes
// is sent back as far as the send buffer takes it, and what it does not
// take is left unconsumed, so a client that does not read is slowed by
// its own receive window, not by our memory.
type echoService struct{ serviceConf }

func (s echoService) Accept(c *api.CConn) {
	c.SetNoDelay(true)
	s.start(c, &idleWatch{})
}

func (echoService) Data(c *api.CConn, data []byte) int {
	n, _ := c.Send(data) // an error also ends the connection: Closed follows
	c.Value().(*idleWatch).progress += n
	return n
}

func (echoService) Writable(*api.CConn) {} // the unconsumed rest comes back as Data

// Closed closes c: after the client's FIN once everything it sent is
// echoed, as queued data still goes out before ours.
func (echoService) Closed(c *api.CConn, err error) { end(c) }

// discardService consumes whatever arrives (RFC 863) and closes when the
// client does.
type discardService struct{ serviceConf }

func (s discardService) Accept(c *api.CConn) { s.start(c, &idleWatch{}) }

func (discardService) Data(c *api.CConn, data []byte) int {
	c.Value().(*idleWatch).progress += len(data)
	return len(data)
}

func (discardService) Writable(*api.CConn) {}

func (discardService) Closed(c *api.CConn, err error) { end(c) }

// idleWatch closes a connection that makes no progress for idle (as
// net/http's IdleTimeout would): one timer per connection, re-armed only
// when it fires, so an idle connection closes between idle and twice idle
// after its last progress. The connection's Value is it, or a service's
// state that embeds it; every close of an admitted connection goes
// through its end.
type idleWatch struct {
	progress int // what the service counts as progress: bytes, requests
	idle     time.Duration
	count    *connCount
	stop     func() bool
}

// watched is a connection's Value: an idleWatch or what embeds one.
type watched interface{ watch() *idleWatch }

func (w *idleWatch) watch() *idleWatch { return w }

// start starts watching c.
func (w *idleWatch) start(c *api.CConn, s serviceConf) {
	w.idle, w.count = s.idle, s.count
	w.check(c, -1)
}

// check closes c if it made no progress since seen, and otherwise looks
// again after idle.
func (w *idleWatch) check(c *api.CConn, seen int) {
	if w.progress == seen {
		w.end(c)
		return
	}
	at := w.progress
	w.stop = c.AfterFunc(w.idle, func() { w.check(c, at) })
}

// end stops watching c, closes it and gives its place back.
func (w *idleWatch) end(c *api.CConn) {
	w.stop()
	if c.Close() == nil {
		w.count.release()
	}
}

// end ends c, whose Value is watched.
func end(c *api.CConn) { c.Value().(watched).watch().end(c) }
