// Command kserve serves, over kernel sockets, what "dpstack run" serves
// (cmd/dpstack/services.go): echo on TCP port 7, discard on 9 and the HTTP
// hello on 8080, answered by the same code (package httphello) with the
// same bytes, so that one client runs unchanged against both and the
// difference is the stack. It is the kernel baseline of cmd/kclient, run
// inside a network namespace, written as Go is written for the kernel: a
// goroutine per connection, parked in the runtime's netpoller. It prints
// "kserve up" on stderr once it listens and stops on SIGINT or SIGTERM.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dpstack/dpstack/internal/httphello"
)

// helloIdle is how long a hello connection may complete no request, as
// dpstack run's --idle-timeout default.
const helloIdle = time.Minute

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
	go serve(lns[2], hello)
	log.Print("kserve up")
	<-ctx.Done()
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

// hello answers the request heads that arrive on c until the client
// closes, a request ends the connection, or none completes for helloIdle.
func hello(c net.Conn) {
	c.(*net.TCPConn).SetNoDelay(true)
	in := make([]byte, 2*httphello.MaxHead)
	var out []byte
	have := 0
	for {
		c.SetReadDeadline(time.Now().Add(helloIdle))
		k, err := c.Read(in[have:])
		if err != nil {
			return
		}
		have += k
		buf := in[:have]
		for {
			n, tooLong := httphello.Scan(buf)
			if tooLong {
				c.Write(httphello.TooLong(out[:0], time.Now()))
				return
			}
			if n == 0 {
				break
			}
			var keepAlive bool
			out, keepAlive = httphello.Answer(out[:0], buf[:n], time.Now())
			if _, err := c.Write(out); err != nil || !keepAlive {
				return
			}
			buf = buf[n:]
		}
		have = copy(in, buf)
	}
}
