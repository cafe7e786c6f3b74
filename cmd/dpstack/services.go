package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
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

// helloBody is what the HTTP hello answers.
const helloBody = "hello from dpstack\n"

// acceptRetry is how long an accept loop waits after an error that is not
// the listener closing (the core's work queue full, say) before it tries
// again.
const acceptRetry = 10 * time.Millisecond

// services are the built-in services of "dpstack run": echo, discard and
// an HTTP hello, served through package api as any application would be,
// the hello with net/http unmodified.
type services struct {
	log  *slog.Logger
	lns  []net.Listener
	http *http.Server
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// startServices listens on the services' ports on every address of h.
func startServices(h *stack.Host, log *slog.Logger) (*services, error) {
	s := &services{log: log, conns: map[net.Conn]struct{}{}}
	listen := func(port int) (net.Listener, error) {
		ln, err := api.Listen(h, "tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, fmt.Errorf("service on port %d: %w", port, err)
		}
		s.lns = append(s.lns, ln)
		return ln, nil
	}
	echo, err := listen(echoPort)
	if err != nil {
		s.Close()
		return nil, err
	}
	discard, err := listen(discardPort)
	if err != nil {
		s.Close()
		return nil, err
	}
	hello, err := listen(httpPort)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.serve(echo, func(c net.Conn) { io.Copy(c, c) })
	s.serve(discard, func(c net.Conn) { io.Copy(io.Discard, c) })

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, helloBody)
	})
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(hello); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("http service", "err", err)
		}
	}()
	addr := h.Addr().Addr()
	log.Info("services", "echo", fmt.Sprintf("%v:%d", addr, echoPort), "discard", fmt.Sprintf("%v:%d", addr, discardPort),
		"http", fmt.Sprintf("http://%v:%d/", addr, httpPort))
	return s, nil
}

// serve accepts connections on ln and runs handle for each on its own
// goroutine, closing the connection after it.
func (s *services) serve(ln net.Listener, handle func(c net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				s.log.Warn("accept", "addr", ln.Addr(), "err", err)
				time.Sleep(acceptRetry)
				continue
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
				s.untrack(c)
				c.Close()
			}()
		}
	}()
}

// track records an open connection, or reports false when the services
// are closing.
func (s *services) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *services) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close stops the services: no new connections, the HTTP server shut down
// gracefully for up to two seconds, the other connections closed, and
// every goroutine of theirs finished. Call it before the host closes.
func (s *services) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		// Wakes the handler, which then closes nothing twice: a
		// conn's own Close after this one only reports ErrClosed.
		c.Close()
	}
	s.mu.Unlock()
	var errs []error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, s.http.Close())
		}
		cancel()
	}
	for _, ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	s.log.Info("services stopped")
	return errors.Join(errs...)
}
