package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// tcpConn exchanges messages over one TCP connection with an echo server.
type tcpConn struct {
	*net.TCPConn
	msg, buf []byte
	timeout  time.Duration
}

func dialTCP(c config) (exchanger, error) {
	conn, err := net.DialTimeout("tcp4", c.addr, c.wait)
	if err != nil {
		return nil, err
	}
	tc := conn.(*net.TCPConn)
	if err := tc.SetNoDelay(true); err != nil {
		tc.Close()
		return nil, err
	}
	return &tcpConn{tc, make([]byte, c.size), make([]byte, c.size), c.replyTimeout}, nil
}

func (t *tcpConn) exchange(seq uint64) (bool, error) {
	binary.LittleEndian.PutUint64(t.msg, seq)
	if err := t.SetDeadline(time.Now().Add(t.timeout)); err != nil {
		return false, err
	}
	if _, err := t.Write(t.msg); err != nil {
		return false, err
	}
	if _, err := io.ReadFull(t, t.buf); err != nil {
		return false, err
	}
	if got := binary.LittleEndian.Uint64(t.buf); got != seq {
		return false, fmt.Errorf("echo of message %d came back as %d", seq, got)
	}
	return false, nil
}

// udpConn exchanges datagrams with a reflector over a connected UDP
// socket; each carries its sequence number, so that a late answer to an
// earlier one is told apart and skipped.
type udpConn struct {
	*net.UDPConn
	msg, buf []byte
	timeout  time.Duration
}

// dialUDP connects and sends datagrams until the first answer or c.wait:
// the reflector may still be starting.
func dialUDP(c config) (exchanger, error) {
	conn, err := net.Dial("udp4", c.addr)
	if err != nil {
		return nil, err
	}
	u := &udpConn{conn.(*net.UDPConn), make([]byte, c.size), make([]byte, c.size+1), 200 * time.Millisecond}
	deadline := time.Now().Add(c.wait)
	for seq := uint64(1 << 63); ; seq++ {
		lost, err := u.exchange(seq)
		if err != nil {
			u.Close()
			return nil, err
		}
		if !lost {
			break
		}
		if time.Now().After(deadline) {
			u.Close()
			return nil, fmt.Errorf("no answer from %s in %v", c.addr, c.wait)
		}
	}
	u.timeout = c.replyTimeout
	return u, nil
}

func (u *udpConn) exchange(seq uint64) (bool, error) {
	binary.LittleEndian.PutUint64(u.msg, seq)
	if _, err := u.Write(u.msg); err != nil {
		return false, err
	}
	if err := u.SetReadDeadline(time.Now().Add(u.timeout)); err != nil {
		return false, err
	}
	for {
		n, err := u.Read(u.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if n == len(u.msg) && binary.LittleEndian.Uint64(u.buf) == seq {
			return false, nil
		}
	}
}
