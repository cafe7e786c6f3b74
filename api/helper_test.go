package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The test binary doubles as the kernel-side peer: run with helperEnv set
// to a role (inside the test's namespace), TestMain runs that role with
// kernel sockets instead of the tests, and prints its results on stdout.
const (
	helperEnv  = "DPSTACK_API_HELPER"
	helperAddr = "DPSTACK_API_ADDR" // the address to dial or listen on
	helperN    = "DPSTACK_API_N"    // connections
	helperConc = "DPSTACK_API_CONC" // of them at once
	helperSize = "DPSTACK_API_SIZE" // bytes per connection; 0: varying
)

// helperTimeout bounds every wait of a helper.
const helperTimeout = 60 * time.Second

// runHelper runs the kernel-side role and returns the exit status.
func runHelper(role string) int {
	addr := os.Getenv(helperAddr)
	n, conc, size := envInt(helperN, 1), envInt(helperConc, 1), envInt(helperSize, 0)
	var err error
	switch role {
	case "echo":
		err = helperEcho(addr, n, conc, size)
	case "send":
		err = helperSend(addr, size)
	case "recv":
		err = helperRecv(addr)
	case "serve-echo":
		err = helperServe(addr, func(c *net.TCPConn) error { _, err := io.Copy(c, c); return err })
	case "serve-echo-many":
		err = helperServeEchoMany(addr, n)
	case "serve-reply":
		err = helperServe(addr, replyAfterEOF)
	case "dial":
		err = helperDial(addr)
	case "halfclose":
		err = helperHalfClose(addr)
	case "read-then-reply":
		err = helperReadThenReply(addr)
	case "reset-read":
		err = helperResetRead(addr)
	case "reset":
		err = helperReset(addr)
	case "hold":
		err = helperHold(addr, true)
	case "stall":
		err = helperHold(addr, false)
	case "backlog":
		err = helperBacklog(addr, n)
	case "idle":
		err = helperIdle(addr, n)
	case "vanish":
		err = helperVanish(addr, n)
	case "udp-echo":
		err = helperUDPEcho(addr)
	case "udp-serve":
		err = helperUDPServe(addr)
	case "udp-sink":
		err = helperUDPSink(addr, n)
	case "udp-refused":
		err = helperUDPRefused(addr)
	case "mcast-send":
		err = helperMcastSend(addr)
	case "mcast-recv":
		err = helperMcastRecv(addr)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
		return 1
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// message is connection i's payload: size bytes, or a size that varies
// with i (1 to 4096), of a pseudo-random stream seeded by i.
func message(i, size int) []byte {
	if size <= 0 {
		size = 1 + (i*7919)%4096
	}
	p := make([]byte, size)
	stream(uint64(i)).Read(p)
	return p
}

// stream is a deterministic byte stream for seed.
func stream(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

// streamSum is the SHA-256 of the first n bytes of stream(seed).
func streamSum(seed uint64, n int64) string {
	h := sha256.New()
	io.CopyN(h, stream(seed), n)
	return hex.EncodeToString(h.Sum(nil))
}

func dial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp4", addr, helperTimeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(helperTimeout))
	return c.(*net.TCPConn), nil
}

// echoOnce sends msg on a new connection, half-closes, and checks that
// exactly msg comes back before the server closes. It writes while it
// reads, so that a large msg cannot deadlock on full windows.
func echoOnce(addr string, msg []byte) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("%v: sent %d bytes, got back %d that differ", c.LocalAddr(), len(msg), len(got))
	}
	return nil
}

// helperEcho makes n echo exchanges, conc at a time, and prints "ok N".
func helperEcho(addr string, n, conc, size int) error {
	next := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := echoOnce(addr, message(i, size)); err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("ok %d\n", n)
	return nil
}

// helperSend sends size bytes of stream(1), half-closes, waits for the
// server to close, and prints their SHA-256.
func helperSend(addr string, size int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(c, h), stream(1), int64(size)); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	fmt.Println(hex.EncodeToString(h.Sum(nil)))
	return nil
}

// helperRecv reads until the server closes and prints the SHA-256 and
// the count of what came.
func helperRecv(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, c, make([]byte, 256<<10))
	if err != nil {
		return err
	}
	fmt.Println(hex.EncodeToString(h.Sum(nil)), n)
	return nil
}

// helperServe listens, prints "listening", serves one connection with
// fn and closes it.
func helperServe(addr string, fn func(c *net.TCPConn) error) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(helperTimeout))
	fmt.Println("listening")
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(helperTimeout))
	return fn(c.(*net.TCPConn))
}

// helperServeEchoMany listens, prints "listening", echoes on n
// connections at once (each until the peer half-closes) and prints
// "ok N" once they are all done.
func helperServeEchoMany(addr string, n int) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(helperTimeout))
	fmt.Println("listening")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(helperTimeout))
			if _, err := io.Copy(c, c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("ok %d\n", n)
	return nil
}

// replyAfterEOF reads until the peer half-closes, then answers "got N"
// and closes.
func replyAfterEOF(c *net.TCPConn) error {
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c, "got %d", n)
	return err
}

// helperDial connects and prints "connected", or the errno's name for a
// refused or reset attempt.
func helperDial(addr string) error {
	c, err := dial(addr)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Println("ECONNREFUSED")
		return nil
	case err != nil:
		return err
	}
	c.Close()
	fmt.Println("connected")
	return nil
}

// helperHalfClose sends "question", half-closes, and prints what comes
// back before the server's FIN.
func helperHalfClose(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "question"); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", got)
	return nil
}

// helperReadThenReply reads until the server half-closes, then answers
// "got N" (the server still reads) and closes.
func helperReadThenReply(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return replyAfterEOF(c)
}

// helperResetRead sends "hello" and reads until an error, which it prints
// by errno name when it is a reset.
func helperResetRead(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello"); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, c)
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		fmt.Println("ECONNRESET")
	case err == nil:
		fmt.Println("EOF")
	default:
		fmt.Println(err)
	}
	return nil
}

// helperReset waits for one byte from the server, sends 100, then aborts
// the connection with a RST (SO_LINGER 0).
func helperReset(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return err
	}
	if _, err := c.Write(make([]byte, 100)); err != nil {
		return err
	}
	if err := c.SetLinger(0); err != nil {
		return err
	}
	fmt.Println("reset")
	return c.Close()
}

// helperHold connects, prints "connected LOCALADDR", echoes what it
// receives (or, stalled, reads nothing), and closes when its stdin ends.
func helperHold(addr string, echo bool) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("connected", c.LocalAddr())
	if echo {
		go io.Copy(c, c)
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// helperBacklog opens n connections at once; each prints "connected I"
// when its handshake is done, sends "message I", half-closes, and checks
// that the message comes back.
func helperBacklog(addr string, n int) error {
	var mu sync.Mutex
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c, err := dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			mu.Lock()
			fmt.Println("connected", i)
			mu.Unlock()
			msg := fmt.Sprintf("message %d", i)
			if _, err := io.WriteString(c, msg); err != nil {
				errs <- err
				return
			}
			c.CloseWrite()
			got, err := io.ReadAll(c)
			if err == nil && string(got) != msg {
				err = fmt.Errorf("connection %d: sent %q, got back %q", i, msg, got)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	fmt.Println("ok")
	return nil
}

// helperIdle opens n connections, has each echo one message, prints
// "ready", and holds them open until its stdin ends; then each half-closes
// and must read the end of the stream.
func helperIdle(addr string, n int) error {
	conns := make([]*net.TCPConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		msg := message(i, 16)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		if err := c.CloseWrite(); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(helperTimeout))
		if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
			return fmt.Errorf("after the half-close: %q, %v", rest, err)
		}
	}
	fmt.Println("ok")
	return nil
}

// helperVanish opens n connections with 4 KiB receive buffers, sends on
// each without reading, prints "opened", and when its stdin ends closes
// them with the data unread, which resets them.
func helperVanish(addr string, n int) error {
	d := net.Dialer{Timeout: helperTimeout, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		go func() {
			buf := make([]byte, 64<<10)
			c.SetWriteDeadline(time.Now().Add(helperTimeout))
			for {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("opened")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// lines reads a helper's stdout line by line onto a channel.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
		close(ch)
	}()
	return ch
}
