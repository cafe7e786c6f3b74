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

// startServices listens on the services' ports on every address of h. The
// HTTP hello closes connections that complete no request for httpIdle.
func startServices(h *stack.Host, httpIdle time.Duration, log *slog.Logger) (*services, error) {
	s := &services{log: log}
	for _, svc := range []struct {
		port int
		hd   api.Handler
	}{{echoPort, echoService{}}, {discardPort, discardService{}}, {httpPort, helloService{idle: httpIdle}}} {
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
type echoService struct{}

func (echoService) Accept(c *api.CConn) { c.SetNoDelay(true) }

func (echoService) Data(c *api.CConn, data []byte) int {
	n, _ := c.Send(data) // an error also ends the connection: Closed follows
	return n
}

func (echoService) Writable(*api.CConn) {} // the unconsumed rest comes back as Data

// Closed closes c: after the client's FIN once everything it sent is
// echoed, as queued data still goes out before ours.
func (echoService) Closed(c *api.CConn, err error) { c.Close() }

// discardService consumes whatever arrives (RFC 863) and closes when the
// client does.
type discardService struct{}

func (discardService) Accept(*api.CConn) {}

func (discardService) Data(_ *api.CConn, data []byte) int { return len(data) }

func (discardService) Writable(*api.CConn) {}

func (discardService) Closed(c *api.CConn, err error) { c.Close() }
