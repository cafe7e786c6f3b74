package api_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/api"
	"github.com/dpstack/dpstack/stack"
)

// seqDgram is datagram i of a test's sequence: size bytes, the first two
// holding i, the rest depending on i and size.
func seqDgram(i, size int) []byte {
	p := udpPayload(size)
	binary.BigEndian.PutUint16(p, uint16(i))
	return p
}

// helperUDPSink reads n datagrams on addr with a kernel socket and prints
// "ok" when they came whole and in order (seqDgram, any size), or what
// came instead.
func helperUDPSink(addr string, n int) error {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("listening")
	buf := make([]byte, 65536)
	for i := range n {
		if err := c.SetReadDeadline(time.Now().Add(helperTimeout)); err != nil {
			return err
		}
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		if k < 2 || string(buf[:k]) != string(seqDgram(int(binary.BigEndian.Uint16(buf)), k)) ||
			binary.BigEndian.Uint16(buf) != uint16(i) {
			fmt.Printf("datagram %d: %d bytes, numbered %d\n", i, k, binary.BigEndian.Uint16(buf))
			return nil
		}
	}
	fmt.Println("ok")
	return nil
}

// stallCore holds the loop of the host's core 0 in a posted function
// until the returned release is called (or the test ends), then runs then
// on the core, if not nil, before the work posted after it. A call that
// goes to the core meanwhile waits; one that does not, returns.
func stallCore(t *testing.T, p *peer, then func(s *stack.Stack)) (release func()) {
	t.Helper()
	ch := make(chan struct{})
	s := p.h.Stacks()[0]
	require.True(t, s.Loop().Post(func() {
		<-ch
		if then != nil {
			then(s)
		}
	}))
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return release
}

// bounded runs fn and returns its error, failing the test if it does not
// return in waitErr's bound (a call that waits on a core held up by
// stallCore does not).
func bounded(t *testing.T, fn func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return waitErr(t, ch)
}

// readSeq reads datagram i of the sequence, of size bytes, from c.
func readSeq(t *testing.T, c *api.UDPConn, i, size int) {
	t.Helper()
	buf := make([]byte, 65536)
	n := 0
	require.NoError(t, bounded(t, func() error {
		var err error
		n, _, err = c.ReadFromUDPAddrPort(buf)
		return err
	}), "datagram %d", i)
	require.Equal(t, seqDgram(i, size), buf[:n], "datagram %d", i)
}

// writeSeq writes datagram i of the sequence, of size bytes, to c's peer.
func writeSeq(t *testing.T, c *api.UDPConn, i, size int) {
	t.Helper()
	require.NoError(t, bounded(t, func() error {
		_, err := c.Write(seqDgram(i, size))
		return err
	}), "datagram %d", i)
}

// TestUDPStagedWrites: to a destination it has sent to, a Write stages
// its datagram and returns while the core is held up, as many of them as
// the stage's slots (ring) or SO_SNDBUF (sndbuf: 2304, doubled to 4608,
// holds three 1000-byte datagrams at their charge of 1256) allow. The
// next one waits: until its write deadline (os.ErrDeadlineExceeded, and
// it is not sent), or, without one, until the core has sent what was
// staged. They all reach the kernel's echo in order, and the charge is
// released: the stage takes as many again.
func TestUDPStagedWrites(t *testing.T) {
	for _, tc := range []struct {
		name            string
		sndbuf, size, n int
	}{
		{"ring", 0, 64, 16},
		{"sndbuf", 2304, 1000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			k := p.start(t, "udp-serve", env(kern(7020))...)
			require.Equal(t, "listening", k.line())
			c, err := api.DialUDP(context.Background(), p.h, "udp", kern(7020))
			require.NoError(t, err)
			if tc.sndbuf > 0 {
				require.NoError(t, c.SetWriteBuffer(tc.sndbuf))
			}
			_, err = c.Write(seqDgram(0, tc.size)) // through the core: the destination is new
			require.NoError(t, err)
			readSeq(t, c, 0, tc.size)

			seq := 1
			for range 2 {
				release := stallCore(t, p, nil)
				for range tc.n {
					writeSeq(t, c, seq, tc.size)
					seq++
				}
				require.NoError(t, c.SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
				_, err := c.Write(seqDgram(seq, tc.size))
				requireTimeout(t, err)
				require.NoError(t, c.SetWriteDeadline(time.Time{}))
				done := make(chan error, 1)
				go func(i int) {
					_, err := c.Write(seqDgram(i, tc.size))
					done <- err
				}(seq)
				seq++
				select {
				case err := <-done:
					t.Fatalf("a Write past the stage's room returned (%v) while the core was held", err)
				default:
				}
				release()
				require.NoError(t, waitErr(t, done))
				for i := seq - tc.n - 1; i < seq; i++ {
					readSeq(t, c, i, tc.size)
				}
			}
			require.NoError(t, c.Close())
			k.wait()
		})
	}
}

// TestUDPStagedClose: Close sends everything staged before the socket
// goes.
func TestUDPStagedClose(t *testing.T) {
	const n = 16
	p := newPeer(t)
	k := p.start(t, "udp-sink", env(kern(7021), helperN, n)...)
	require.Equal(t, "listening", k.line())
	c, err := api.DialUDP(context.Background(), p.h, "udp", kern(7021))
	require.NoError(t, err)
	_, err = c.Write(seqDgram(0, 100))
	require.NoError(t, err)
	release := stallCore(t, p, nil)
	for i := 1; i < n; i++ {
		writeSeq(t, c, i, 100+i)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	release()
	require.NoError(t, waitErr(t, closed))
	assert.Equal(t, "ok", k.line())
	k.wait()
}

// TestUDPStagedError: a staged datagram that the core cannot send (its
// route went away after the Write returned) is reported as Linux reports
// an asynchronous error: the socket's next call, here a Read, returns it
// (ENETUNREACH); and the Write after it goes through the core, which
// refuses it itself.
func TestUDPStagedError(t *testing.T) {
	p := newPeer(t)
	far := netip.MustParsePrefix("198.19.77.0/24")
	dst := netip.AddrPortFrom(netip.MustParseAddr("198.19.77.5"), 9)
	var rerr error
	require.NoError(t, p.h.Do(0, func(s *stack.Stack) { rerr = s.Routes().AddRoute(far, kernAddr.Addr()) }))
	require.NoError(t, rerr)
	c, err := api.ListenUDP(p.h, "udp4", netip.AddrPortFrom(hostAddr.Addr(), 0))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.WriteToUDPAddrPort(seqDgram(0, 64), dst)
	require.NoError(t, err)

	release := stallCore(t, p, func(s *stack.Stack) { rerr = s.Routes().Delete(far) })
	require.NoError(t, bounded(t, func() error {
		_, err := c.WriteToUDPAddrPort(seqDgram(1, 64), dst)
		return err
	}), "staged")
	release()

	require.NoError(t, c.SetReadDeadline(time.Now().Add(helperTimeout)))
	_, _, err = c.ReadFromUDPAddrPort(make([]byte, 64))
	require.NoError(t, rerr)
	require.ErrorIs(t, err, syscall.ENETUNREACH)
	_, err = c.WriteToUDPAddrPort(seqDgram(2, 64), dst)
	require.ErrorIs(t, err, syscall.ENETUNREACH)
}

// TestUDPBatchedReads: the first Read's trip to the core takes the
// datagrams queued behind its own, and the next Reads return them with
// the core held up: in order, with their source, length (MSG_TRUNC for a
// short buffer) and receive time, and after a read deadline that passed
// (which they report first, as a Read with data queued does). A datagram
// larger than the batch's room stays queued for the next trip, and the
// order holds across it. The datagrams were written through the stage
// and, the large one, through the core, to a kernel echo.
func TestUDPBatchedReads(t *testing.T) {
	const n = 20
	size := func(i int) int {
		if i == 10 {
			return 20000
		}
		return 64 + i
	}
	p := newPeer(t)
	k := p.start(t, "udp-serve", env(kern(7022))...)
	require.Equal(t, "listening", k.line())
	c, err := api.DialUDP(context.Background(), p.h, "udp", kern(7022))
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Write(seqDgram(0, size(0)))
	require.NoError(t, err)
	readSeq(t, c, 0, size(0))

	in := p.udpInDatagrams(t)
	for i := 1; i <= n; i++ {
		_, err := c.Write(seqDgram(i, size(i)))
		require.NoError(t, err)
	}
	for p.udpInDatagrams(t) < in+n {
		time.Sleep(time.Millisecond) // until every echo is queued; bounded by the test's timeout
	}
	readSeq(t, c, 1, size(1))

	release := stallCore(t, p, nil)
	readSeq(t, c, 2, size(2))
	buf, oob := make([]byte, 10), make([]byte, 128)
	var got, oobn, flags int
	var from netip.AddrPort
	require.NoError(t, bounded(t, func() error {
		var err error
		got, oobn, flags, from, err = c.ReadMsgUDPAddrPort(buf, oob)
		return err
	}))
	assert.Equal(t, seqDgram(3, size(3))[:10], buf[:got])
	assert.Equal(t, syscall.MSG_TRUNC, flags)
	assert.Equal(t, kern(7022), from.String())
	require.NoError(t, checkRxStamp(oob[:oobn], start, time.Now()))
	readSeq(t, c, 4, size(4))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = c.Read(buf)
	requireTimeout(t, err)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	for i := 5; i < 10; i++ {
		readSeq(t, c, i, size(i))
	}
	release()
	for i := 10; i <= n; i++ {
		readSeq(t, c, i, size(i))
	}
	require.NoError(t, c.Close())
	k.wait()
}

// udpInDatagrams is the host's core 0's udp_in_datagrams, read there.
func (p *peer) udpInDatagrams(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, p.h.Do(0, func(s *stack.Stack) { n = s.UDP().Stats().InDatagrams.Load() }))
	return n
}

// TestUDPBatchAllocs: a burst of Writes (staged) and the Reads of their
// echoes (batched) allocate nothing.
func TestUDPBatchAllocs(t *testing.T) {
	const burst = 8
	p := newPeer(t)
	k := p.start(t, "udp-serve", env(kern(7023))...)
	require.Equal(t, "listening", k.line())
	c, err := api.DialUDP(context.Background(), p.h, "udp", kern(7023))
	require.NoError(t, err)
	msg, buf := make([]byte, 64), make([]byte, 64)
	round := func() {
		for range burst {
			if _, err := c.Write(msg); err != nil {
				panic(err)
			}
		}
		for range burst {
			if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || n != len(msg) {
				panic(fmt.Sprint(n, err))
			}
		}
	}
	for range 50 {
		round() // warm up
	}
	assert.Zero(t, testing.AllocsPerRun(100, round))
	require.NoError(t, c.Close())
	k.wait()
}
