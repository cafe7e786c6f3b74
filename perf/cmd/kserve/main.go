// Command kserve serves, over kernel sockets, what "dpstack run" serves
// (cmd/dpstack/services.go): echo on TCP port 7, discard on 9 and an HTTP
// hello on 8080 that answers the same bytes, so that one client runs
// unchanged against both. It is the kernel baseline of cmd/kclient, run
// inside a network namespace; it prints "kserve up" on stderr once it
// listens and stops on SIGINT or SIGTERM.
//
//	ip netns exec dpsperf-ksrv kserve -addr 198.19.2.2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// helloBody is what the HTTP hello answers: cmd/dpstack's helloBody.
const helloBody = "hello from dpstack\n"

func main() {
	addr := flag.String("addr", "", "address to listen on (default: every address)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "kserve:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, port := range []string{"7", "9", "8080"} {
		ln, err := net.Listen("tcp4", net.JoinHostPort(addr, port))
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	go serve(lns[0], func(c net.Conn) { io.Copy(c, c) })
	go serve(lns[1], func(c net.Conn) { io.Copy(io.Discard, c) })
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, helloBody)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lns[2]) }()
	log.Print("kserve up")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// serve accepts connections on ln until it closes, each handled on a
// goroutine of its own and closed after.
func serve(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Print("accept: ", err)
			}
			return
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}
