package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// The built-in services' ports.
const (
	echoPort    = 7    // echo, RFC 862
	discardPort = 9    // discard, RFC 863
	httpPort    = 8080 // an HTTP hello
)

// services are the built-in services of "dpstack run": echo, discard and
// an HTTP hello. All three use the callback API, because nothing in
// dpstack answers sooner: they run on the polling core that received the
// request, read it in the packet's own bytes, answer with one Send (one
// copy, into the reply's mbuf), and wake no goroutine and no other thread.
// A blocking-API server (net/http over api.Listen, as in api's tests) pays
// two thread wakeups per exchange on top: the core waking the reader, the
// writer waking the core.
type services struct {
	log *slog.Logger
	lns []io.Closer
}

// startServices listens on the services' ports on every address of h.
// Each closes a connection that makes no progress for idle (idleWatch), so
// that peers that vanished without a word leave nothing behind.
func startServices(h *stack.Host, idle time.Duration, log *slog.Logger) (*services, error) {
	s := &services{log: log}
	for _, svc := range []struct {
		port int
		hd   api.Handler
	}{{echoPort, echoService{idle}}, {discardPort, discardService{idle}}, {httpPort, helloService{idle}}} {
		ln, err := api.ListenCallback(h, fmt.Sprintf(":%d", svc.port), svc.hd)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("service on port %d: %w", svc.port, err)
		}
		s.lns = append(s.lns, ln)
	}
	addr := h.Addr().Addr()
	log.Info("services", "echo", fmt.Sprintf("%v:%d", addr, echoPort), "discard", fmt.Sprintf("%v:%d", addr, discardPort),
		"http", fmt.Sprintf("http://%v:%d/", addr, httpPort))
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

// echoService echoes (RFC 862) on the core: each view of received bytes
// is sent back as far as the send buffer takes it, and what it does not
// take is left unconsumed, so a client that does not read is slowed by
// its own receive window, not by our memory.
type echoService struct{ idle time.Duration }

func (s echoService) Accept(c *api.CConn) {
	c.SetNoDelay(true)
	startWatch(c, &idleWatch{}, s.idle)
}

func (echoService) Data(c *api.CConn, data []byte) int {
	n, _ := c.Send(data) // an error also ends the connection: Closed follows
	c.Value().(*idleWatch).progress += n
	return n
}

func (echoService) Writable(*api.CConn) {} // the unconsumed rest comes back as Data

// Closed closes c: after the client's FIN once everything it sent is
// echoed, as queued data still goes out before ours.
func (echoService) Closed(c *api.CConn, err error) { closeWatched(c) }

// discardService consumes whatever arrives (RFC 863) and closes when the
// client does.
type discardService struct{ idle time.Duration }

func (s discardService) Accept(c *api.CConn) { startWatch(c, &idleWatch{}, s.idle) }

func (discardService) Data(c *api.CConn, data []byte) int {
	c.Value().(*idleWatch).progress += len(data)
	return len(data)
}

func (discardService) Writable(*api.CConn) {}

func (discardService) Closed(c *api.CConn, err error) { closeWatched(c) }

// idleWatch closes a connection that makes no progress for idle (as
// net/http's IdleTimeout would): one timer per connection, re-armed only
// when it fires, so an idle connection closes between idle and twice idle
// after its last progress. The connection's Value is it, or a service's
// state that embeds it.
type idleWatch struct {
	progress int // what the service counts as progress: bytes, requests
	idle     time.Duration
	stop     func() bool
}

// watched is a connection's Value: an idleWatch or what embeds one.
type watched interface{ watch() *idleWatch }

func (w *idleWatch) watch() *idleWatch { return w }

// startWatch makes v c's Value and starts watching c.
func startWatch(c *api.CConn, v watched, idle time.Duration) {
	c.SetValue(v)
	w := v.watch()
	w.idle = idle
	w.check(c, -1)
}

// check closes c if it made no progress since seen, and otherwise looks
// again after idle.
func (w *idleWatch) check(c *api.CConn, seen int) {
	if w.progress == seen {
		c.Close()
		return
	}
	at := w.progress
	w.stop = c.AfterFunc(w.idle, func() { w.check(c, at) })
}

// closeWatched stops c's watch and closes it.
func closeWatched(c *api.CConn) {
	c.Value().(watched).watch().stop()
	c.Close()
}
