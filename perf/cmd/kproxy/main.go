// Command kproxy is the proxy a Go programmer writes for the kernel: a
// goroutine per direction, io.Copy, and CloseWrite when one direction
// ends, so that a half-close is carried across. It is the "Go io.Copy
// proxy" row of kclient's proxy table (make perf-proxy), run inside a
// network namespace. It prints "kproxy up" on stderr once it listens and
// stops on SIGINT or SIGTERM.
//
//	ip netns exec dpsperf-ksrv kproxy -listen 198.19.2.2:8080 -upstream 198.19.2.1:8080
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
)

// dialTimeout bounds the connect to the upstream, as HAProxy's
// "timeout connect" does in the same table.
const dialTimeout = 5 * time.Second

func main() {
	listen := flag.String("listen", "", "address:port to accept clients on")
	upstream := flag.String("upstream", "", "address:port to connect each client to")
	flag.Parse()
	if *listen == "" || *upstream == "" {
		fmt.Fprintln(os.Stderr, "kproxy: -listen and -upstream are required")
		os.Exit(2)
	}
	if err := run(*listen, *upstream); err != nil {
		fmt.Fprintln(os.Stderr, "kproxy:", err)
		os.Exit(1)
	}
}

func run(listen, upstream string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	log.Print("kproxy up")
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go relay(c.(*net.TCPConn), upstream)
	}
}

// relay connects client to upstream and copies each direction until it
// ends, then closes both connections.
func relay(client *net.TCPConn, upstream string) {
	defer client.Close()
	c, err := net.DialTimeout("tcp4", upstream, dialTimeout)
	if err != nil {
		log.Print("upstream: ", err)
		return
	}
	server := c.(*net.TCPConn)
	defer server.Close()
	done := make(chan struct{})
	go func() {
		pipe(server, client)
		close(done)
	}()
	pipe(client, server)
	<-done
}

// pipe copies from src to dst and then closes dst's write side (FIN),
// keeping the other direction open.
func pipe(dst, src *net.TCPConn) {
	io.Copy(dst, src)
	dst.CloseWrite()
}
