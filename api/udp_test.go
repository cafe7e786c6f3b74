package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/api"
)

// udpSizes are the datagram sizes the UDP echo tests exchange: small,
// one full frame, just past it (two fragments), and the largest.
var udpSizes = []int{64, 1472, 1473, 65507}

// udpPayload is a datagram of n bytes whose content depends on n.
func udpPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + n)
	}
	return p
}

// helperUDPEcho sends a datagram of each of udpSizes to addr from a kernel
// socket and checks that the same bytes come back, then prints "ok".
func helperUDPEcho(addr string) error {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for _, n := range udpSizes {
		want := udpPayload(n)
		if err := c.SetDeadline(time.Now().Add(helperTimeout)); err != nil {
			return err
		}
		if _, err := c.Write(want); err != nil {
			return err
		}
		got, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("%d bytes: %w", n, err)
		}
		if !bytes.Equal(buf[:got], want) {
			return fmt.Errorf("%d bytes: %d came back, different", n, got)
		}
	}
	fmt.Println("ok")
	return nil
}

// helperUDPServe echoes datagrams on addr with a kernel socket until its
// stdin closes.
func helperUDPServe(addr string) error {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	go func() {
		_, _ = os.Stdin.Read(make([]byte, 1))
		c.Close()
	}()
	fmt.Println("listening")
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return nil // closed
		}
		if _, err := c.WriteTo(buf[:n], from); err != nil {
			return err
		}
	}
}

// helperUDPRefused sends from a connected kernel socket to addr, where
// nothing listens, and prints the error the next read gets.
func helperUDPRefused(addr string) error {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("anyone?")); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(helperTimeout)); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 16))
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Println("refused")
	default:
		fmt.Printf("read: %v\n", err)
	}
	return nil
}

// TestUDPEchoKernel: a kernel socket's datagrams, up to 65,507 bytes,
// reach a dpstack UDP socket (reassembled from fragments) and come back
// (fragmented on the way out), with their source as ReadMsgUDPAddrPort
// gives it, and their receive time in its control message.
func TestUDPEchoKernel(t *testing.T) {
	p := newPeer(t)
	pc, err := api.ListenPacket(p.h, "udp", ":7007")
	require.NoError(t, err)
	uc := pc.(*api.UDPConn)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		buf, oob := make([]byte, 65536), make([]byte, 128)
		for {
			n, oobn, _, from, err := uc.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				done <- err
				return
			}
			if err := checkRxStamp(oob[:oobn], start, time.Now()); err != nil {
				done <- err
				return
			}
			if _, err := uc.WriteToUDPAddrPort(buf[:n], from); err != nil {
				done <- err
				return
			}
		}
	}()
	assert.Equal(t, "ok", p.run(t, "udp-echo", env(host(7007))...))
	require.NoError(t, pc.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
}

// checkRxStamp checks that oob holds one SCM_TIMESTAMPING message with a
// software receive time between from and to.
func checkRxStamp(oob []byte, from, to time.Time) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return err
	}
	if len(msgs) != 1 || msgs[0].Header.Level != unix.SOL_SOCKET || msgs[0].Header.Type != unix.SCM_TIMESTAMPING ||
		len(msgs[0].Data) < int(unsafe.Sizeof(unix.ScmTimestamping{})) {
		return fmt.Errorf("control messages %+v: want one SCM_TIMESTAMPING", msgs)
	}
	ts := (*unix.ScmTimestamping)(unsafe.Pointer(&msgs[0].Data[0]))
	got := time.Unix(ts.Ts[0].Unix())
	if got.Before(from) || got.After(to) || ts.Ts[2] != (unix.Timespec{}) {
		return fmt.Errorf("receive time %v (hardware %v): want a software time in [%v, %v]", got, ts.Ts[2], from, to)
	}
	return nil
}

// TestUDPDialKernel: a dpstack socket dialled to a kernel echo server
// sends every size and reads it back; a read deadline ends a Read that
// waits.
func TestUDPDialKernel(t *testing.T) {
	p := newPeer(t)
	k := p.start(t, "udp-serve", env(kern(7008))...)
	require.Equal(t, "listening", k.line())
	c, err := api.Dial(context.Background(), p.h, "udp", kern(7008))
	require.NoError(t, err)
	uc := c.(*api.UDPConn)
	buf := make([]byte, 65536)
	for _, n := range udpSizes {
		want := udpPayload(n)
		_, err := c.Write(want)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(helperTimeout)))
		got, flags, from := 0, 0, netip.AddrPort{}
		got, _, flags, from, err = uc.ReadMsgUDPAddrPort(buf, nil)
		require.NoError(t, err, "%d bytes", n)
		assert.Equal(t, want, buf[:got], "%d bytes", n)
		assert.Zero(t, flags)
		assert.Equal(t, kern(7008), from.String())
	}
	// A short buffer cuts the datagram, and says so.
	_, err = c.Write(udpPayload(100))
	require.NoError(t, err)
	got, _, flags, _, err := uc.ReadMsgUDPAddrPort(buf[:10], nil)
	require.NoError(t, err)
	assert.Equal(t, 10, got)
	assert.Equal(t, syscall.MSG_TRUNC, flags)

	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = c.Read(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.Close())
	k.wait()
}

// TestUDPRefused: the port unreachable dpstack sends for a closed port is
// ECONNREFUSED to a connected kernel socket, and the kernel's is
// ECONNREFUSED to a connected dpstack one.
func TestUDPRefused(t *testing.T) {
	p := newPeer(t)
	assert.Equal(t, "refused", p.run(t, "udp-refused", env(host(7009))...))

	c, err := api.Dial(context.Background(), p.h, "udp", kern(7010))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("anyone?"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(helperTimeout)))
	_, err = c.Read(make([]byte, 16))
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "udp", op.Net)
	assert.True(t, strings.Contains(err.Error(), "connection refused"), err.Error())
}

// TestUDPConnAllocs: a blocking UDP round trip, Write then
// ReadFromUDPAddrPort against a kernel echo, allocates nothing.
func TestUDPConnAllocs(t *testing.T) {
	p := newPeer(t)
	k := p.start(t, "udp-serve", env(kern(7013))...)
	require.Equal(t, "listening", k.line())
	c, err := api.DialUDP(context.Background(), p.h, "udp", kern(7013))
	require.NoError(t, err)
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			panic(err)
		}
		if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || n != len(msg) {
			panic(fmt.Sprint(n, err))
		}
	}
	for range 100 {
		roundTrip() // warm up
	}
	assert.Zero(t, testing.AllocsPerRun(300, roundTrip))
	require.NoError(t, c.Close())
	k.wait()
}
