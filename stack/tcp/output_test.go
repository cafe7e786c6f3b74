package tcp_test

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// Delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2): at most every second
// full-sized segment or a 40-200 ms timer; quickack at the start and on
// TCP_QUICKACK; piggybacked on data when there is some.
func TestDelayedAck(t *testing.T) {
	rc := established(t) // its first data was ACKed at once: quickack mode
	pr := rc.pr
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0))
	v, err := rc.s.GetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
	require.NoError(t, err)
	assert.Zero(t, v, "interactive mode")

	rc.send(fACK|fPSH, []byte("one"))
	pr.expectNone()
	assert.True(t, rc.s.Info().DelayedAckPending)
	pr.advance(39 * time.Millisecond)
	pr.expectNone()
	pr.advance(3 * time.Millisecond)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	assert.Equal(t, uint64(1), pr.tcp().Stats().DelayedACKs.Load())

	// Two full-sized segments: the ACK goes at once.
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0))
	mss := rc.s.Info().MSS
	rc.send(fACK, pattern(mss, 1))
	pr.expectNone()
	rc.send(fACK, pattern(mss, 2))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))

	// An ACK owed rides on data.
	rc.send(fACK|fPSH, []byte("question"))
	pr.expectNone()
	_, err = rc.s.SendMsg([]byte("answer"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.Flags(fACK|fPSH), stacktest.Ack(rc.seq), stacktest.PayloadLen(6))
	pr.advance(300 * time.Millisecond)
	// Only the retransmission of the unacknowledged answer, no bare ACK.
	d := rc.expect(stacktest.PayloadLen(6))
	rc.send(fACK, nil)
	_ = d

	// TCP_QUICKACK on sends what is owed at once.
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0))
	rc.send(fACK|fPSH, []byte("x"))
	pr.expectNone()
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	rc.s.Close()
}

// Nagle's algorithm (RFC 896, Minshall's variant as Linux) and
// TCP_NODELAY.
func TestNagle(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	_, err := rc.s.SendMsg([]byte("a"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.PayloadLen(1))
	_, err = rc.s.SendMsg([]byte("b"), 0)
	require.NoError(t, err)
	_, err = rc.s.SendMsg([]byte("c"), 0)
	require.NoError(t, err)
	pr.expectNone()
	assert.Equal(t, 2, rc.s.Info().Unsent, "held while a small segment is unacknowledged")
	rc.send(fACK, nil)
	d := rc.expect(stacktest.PayloadLen(2))
	assert.Equal(t, "bc", string(d.Payload), "coalesced into one segment")
	rc.send(fACK, nil)

	// A full segment is never held.
	_, err = rc.s.SendMsg([]byte("d"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.PayloadLen(1))
	mss := rc.s.Info().MSS
	_, err = rc.s.SendMsg(pattern(mss+10, 3), 0)
	require.NoError(t, err)
	rc.expect(stacktest.PayloadLen(mss))
	pr.expectNone()
	// TCP_NODELAY pushes what was held, and holds nothing after.
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	rc.expect(stacktest.PayloadLen(10))
	_, err = rc.s.SendMsg([]byte("e"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.PayloadLen(1))
	rc.s.Close()
}

// The receive window follows the reader: it closes as data waits, the
// peer's excess is dropped, and reading reopens it with a window update
// (RFC 9293 §3.8.6.2.2; Linux __tcp_cleanup_rbuf). Memory never exceeds
// the buffer, and a RST is taken even at zero window.
func TestReceiveWindow(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	require.NoError(t, l.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8192))
	rc := pr.accept(l, 5000, 1000, stacktest.OptMSS(1460)) // no scaling: windows in bytes
	s := rc.s
	wnd := uint16(8192)
	var sent int
	for i := 0; wnd > 0; i++ {
		require.Less(t, i, 100, "the window never closes")
		n := min(int(wnd), 1000)
		rc.send(fACK, pattern(n, i))
		sent += n
		a := rc.expectSoon(stacktest.Flags(fACK))
		wnd = a.Window
	}
	in := s.Info()
	assert.LessOrEqual(t, in.RmemAlloc, 16384, "within SO_RCVBUF")
	assert.Equal(t, sent, in.RecvQueue)
	// The peer ignores the zero window: dropped, answered with window 0.
	before := pr.drops(stat.DropTCPZeroWindow)
	rc.send(fACK, pattern(500, 99))
	rc.seq -= 500
	rc.expect(stacktest.Flags(fACK), stacktest.Window(0), stacktest.Ack(rc.seq))
	assert.Equal(t, before+1, pr.drops(stat.DropTCPZeroWindow))
	// Reading opens the window: an update goes out.
	got := make([]byte, sent)
	n, err := s.RecvMsg(got, 0)
	require.NoError(t, err)
	require.Equal(t, sent, n)
	up := rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	assert.Positive(t, up.Window)
	// A RST is processed at zero window too.
	for wnd := up.Window; wnd > 0; {
		rc.send(fACK, pattern(min(int(wnd), 1000), 1))
		wnd = rc.expectSoon(stacktest.Flags(fACK)).Window
	}
	pr.send(rc.seg(fRST, nil))
	assert.Equal(t, sock.Closed, s.State())
	s.Close()
	l.Close()
}

// Zero window from the peer: the persist timer probes with backoff for as
// long as the peer answers (RFC 9293 §3.8.6.1; RFC 1122 §4.2.2.17), then
// the data goes when the window opens.
func TestPersistProbesForever(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	_, err := rc.s.SendMsg([]byte("first"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.PayloadLen(5))
	rc.wnd = 0
	rc.send(fACK, nil)
	_, err = rc.s.SendMsg([]byte("blocked"), 0)
	require.NoError(t, err)
	pr.expectNone()
	una := rc.s.Info().SndUna
	interval := 200 * time.Millisecond
	for i := range 20 {
		pr.advance(interval + 5*time.Millisecond)
		rc.expect(stacktest.Flags(fACK), stacktest.Seq(una-1), stacktest.PayloadLen(0))
		rc.send(fACK, nil) // still zero
		interval = min(2*interval, 120*time.Second)
		require.Equal(t, sock.Established, rc.s.State(), "probe %d", i)
	}
	assert.Equal(t, uint64(20), pr.tcp().Stats().WindowProbes.Load())
	rc.wnd = 1000
	rc.send(fACK, nil)
	d := rc.expect(stacktest.PayloadLen(7))
	assert.Equal(t, "blocked", string(d.Payload))
	rc.s.Close()
}

// A window of a few bytes takes part of a segment.
func TestPersistSmallWindow(t *testing.T) {
	rc := establishedWith(t, stacktest.Options(stacktest.OptMSS(1460), stacktest.OptTS(100, 0))) // windows unscaled
	pr := rc.pr
	rc.wnd = 0
	rc.send(fACK, nil)
	_, err := rc.s.SendMsg([]byte("0123456789"), 0)
	require.NoError(t, err)
	pr.expectNone()
	rc.wnd = 4
	rc.send(fACK, nil)
	pr.expectNone() // the peer's window does not fit the segment
	pr.advance(205 * time.Millisecond)
	d := rc.expect(stacktest.PayloadLen(4))
	assert.Equal(t, "0123", string(d.Payload), "the probe carries what fits")
	rc.wnd = 100
	rc.send(fACK, nil)
	d = rc.expect(stacktest.PayloadLen(6))
	assert.Equal(t, "456789", string(d.Payload))
	rc.s.Close()
}

// TCP_USER_TIMEOUT ends zero-window probing (RFC 5482).
func TestPersistUserTimeout(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	r := &recorder{}
	rc.s.Callbacks = r
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, sock.TCP_USER_TIMEOUT, 5000))
	rc.wnd = 0
	rc.send(fACK, nil)
	_, err := rc.s.SendMsg([]byte("blocked"), 0)
	require.NoError(t, err)
	for i := 0; rc.s.State() == sock.Established; i++ {
		require.Less(t, i, 20)
		pr.advance(time.Second)
		pr.drain()
		rc.send(fACK, nil)
	}
	assert.ErrorIs(t, rc.s.SockError(), syscall.ETIMEDOUT)
	assert.Positive(t, r.errs)
	rc.s.Close()
}

// The peer shrinking its window below what is in flight (RFC 9293
// §3.8.6.2.1 discourages it; a sender must cope) stops new data and breaks
// nothing.
func TestPeerShrinksWindow(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	data := pattern(6000, 7)
	_, err := rc.s.SendMsg(data, 0)
	require.NoError(t, err)
	var got []byte
	for range 5 {
		got = append(got, rc.expect().Payload...)
	}
	require.Len(t, got, len(data))
	// ACK one segment with a window ending before what is in flight.
	rc.ack -= uint32(len(got)) - 1448
	rc.wnd = 10
	rc.send(fACK, nil)
	pr.expectNone()
	pr.advance(250 * time.Millisecond) // the RTO resends the oldest
	for len(pr.inbox) > 0 {
		rc.expect()
	}
	rc.ack = rc.s.Info().SndNxt
	rc.wnd = 65535
	rc.send(fACK, nil)
	pr.expectNone()
	assert.Zero(t, rc.s.Info().PacketsOut)
	rc.s.Close()
}

// Out-of-order data: queued, ACKed at once with SACK blocks, the most
// recent first (RFC 2018 §4), at most 3 beside timestamps; a filled hole
// is ACKed at once (RFC 5681 §4.2).
func TestOutOfOrderSACK(t *testing.T) {
	rc := established(t)
	s0 := rc.seq
	seg := func(off, n int) stacktest.Segment {
		x := rc.seg(fACK, pattern(n, off))
		x.Seq = s0 + uint32(off)
		return x
	}
	blocks := func(r stacktest.Parsed) []header.SACKBlock { return r.Options.SACK() }
	blk := func(a, b int) header.SACKBlock { return header.SACKBlock{Start: s0 + uint32(a), End: s0 + uint32(b)} }

	rc.pr.send(seg(1000, 1000))
	r := rc.expect(stacktest.Flags(fACK), stacktest.Ack(s0))
	assert.Equal(t, []header.SACKBlock{blk(1000, 2000)}, blocks(r))
	rc.pr.send(seg(2000, 1000))
	r = rc.expect(stacktest.Ack(s0))
	assert.Equal(t, []header.SACKBlock{blk(1000, 3000)}, blocks(r))
	rc.pr.send(seg(4000, 1000))
	r = rc.expect(stacktest.Ack(s0))
	assert.Equal(t, []header.SACKBlock{blk(4000, 5000), blk(1000, 3000)}, blocks(r))
	rc.pr.send(seg(6000, 500))
	rc.pr.send(seg(8000, 500))
	r = rc.expect(stacktest.Ack(s0))
	r = rc.expect(stacktest.Ack(s0))
	assert.Equal(t, []header.SACKBlock{blk(8000, 8500), blk(6000, 6500), blk(4000, 5000)}, blocks(r), "3 blocks beside timestamps")
	// Overlaps are trimmed; a duplicate is D-SACKed.
	rc.pr.send(seg(1500, 1000))
	r = rc.expect(stacktest.Ack(s0))
	assert.Equal(t, blk(1500, 2500), blocks(r)[0], "D-SACK first")
	// Fill the first hole: ACK at once up to the next hole.
	rc.pr.send(seg(0, 1000))
	r = rc.expect(stacktest.Ack(s0 + 3000))
	assert.Equal(t, blk(8000, 8500), blocks(r)[0])
	rc.pr.send(seg(3000, 1000))
	rc.expect(stacktest.Ack(s0 + 5000))
	rc.pr.send(seg(5000, 1000))
	rc.expect(stacktest.Ack(s0 + 6500))
	rc.pr.send(seg(6500, 1500))
	r = rc.expect(stacktest.Ack(s0 + 8500))
	assert.Empty(t, blocks(r))
	want := make([]byte, 0, 8500)
	for _, p := range [][2]int{{0, 1000}, {1000, 1000}, {2000, 1000}, {3000, 1000}, {4000, 1000}, {5000, 1000}, {6000, 500}, {6500, 1500}, {8000, 500}} {
		want = append(want, pattern(p[1], p[0])...)
	}
	got := make([]byte, 20000)
	n, err := rc.s.RecvMsg(got, 0)
	require.NoError(t, err)
	assert.Equal(t, 5+8500, n)
	assert.True(t, bytes.Equal(want, got[5:n]))
	rc.s.Close()
}

// Out-of-order memory is bounded by the receive buffer whatever the peer
// sends; pruning keeps the lowest data.
func TestOutOfOrderMemoryBound(t *testing.T) {
	rc := established(t)
	s0 := rc.seq
	base := rc.s.Info()
	for i := range 200 {
		x := rc.seg(fACK, []byte("xx"))
		x.Seq = s0 + 10 + uint32(i*4)
		rc.pr.send(x)
	}
	rc.pr.drain()
	in := rc.s.Info()
	assert.LessOrEqual(t, in.RmemAlloc, 131072)
	assert.Positive(t, rc.pr.drops(stat.DropTCPOFOMem))
	assert.Less(t, in.OFOQueue, 200)
	assert.Equal(t, base.RcvNxt, in.RcvNxt)
	// The hole still fills.
	x := rc.seg(fACK, make([]byte, 10))
	x.Seq = s0
	rc.pr.send(x)
	assert.Equal(t, s0+12, rc.s.Info().RcvNxt)
	rc.s.Close()
}

// Without timestamps there is room for four SACK blocks (RFC 2018 §3).
func TestFourSACKBlocks(t *testing.T) {
	rc := establishedWith(t, stacktest.Options(stacktest.OptMSS(1460), stacktest.OptSACKPerm()))
	s0 := rc.seq
	for i := 1; i <= 5; i++ {
		x := rc.seg(fACK, []byte("zz"))
		x.Seq = s0 + uint32(10*i)
		rc.pr.send(x)
		rc.expect(stacktest.Ack(s0))
	}
	x := rc.seg(fACK, []byte("zz"))
	x.Seq = s0 + 60
	rc.pr.send(x)
	r := rc.expect(stacktest.Ack(s0))
	require.Equal(t, 4, r.Options.NumSACK)
	assert.Equal(t, header.SACKBlock{Start: s0 + 60, End: s0 + 62}, r.Options.SACKBlocks[0], "the most recent first")
	rc.s.Close()
}

// replier answers every read with "answer" from inside DataReady, as a
// callback application replies within the loop's turn.
type replier struct {
	s   *tcp.Sock
	buf [64]byte
}

func (r *replier) DataReady(*sock.Sock) {
	if n, _ := r.s.RecvMsg(r.buf[:], 0); n > 0 {
		r.s.SendMsg([]byte("answer"), 0)
	}
}
func (r *replier) WriteSpace(*sock.Sock)  {}
func (r *replier) StateChange(*sock.Sock) {}
func (r *replier) ErrorReport(*sock.Sock) {}

// A quick ACK waits for the end of the loop's turn (deferAck): a reply the
// application makes in the same turn carries it, and no bare ACK follows;
// without one the ACK still goes out with the turn's output; and two
// segments of one burst still get an ACK each, as quickack mode sends.
func TestQuickAckDeferredToTurnEnd(t *testing.T) {
	rc := established(t) // quickack mode: the first data was ACKed at once
	pr := rc.pr

	// Two segments in one burst, nobody reading: an ACK for each.
	first := rc.seg(fACK|fPSH, []byte("one"))
	rc.seq += 3
	second := rc.seg(fACK|fPSH, []byte("two"))
	rc.seq += 3
	pr.inject(pr.frame(first))
	pr.inject(pr.frame(second))
	pr.poll(1)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq-3), stacktest.PayloadLen(0))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq), stacktest.PayloadLen(0))
	pr.expectNone()

	// The same when the second starts a GRO group (no PSH): the held ACK
	// goes before the group is taken.
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1))
	first = rc.seg(fACK|fPSH, []byte("three"))
	rc.seq += 5
	second = rc.seg(fACK, []byte("four"))
	rc.seq += 4
	pr.inject(pr.frame(first))
	pr.inject(pr.frame(second))
	pr.poll(1)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq-4), stacktest.PayloadLen(0))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq), stacktest.PayloadLen(0))
	pr.expectNone()

	// A reply in the same turn carries the ACK.
	rc.s.RecvMsg(make([]byte, 64), 0)
	rc.s.Callbacks = &replier{s: rc.s}
	rc.send(fACK|fPSH, []byte("question"))
	rc.expect(stacktest.Flags(fACK|fPSH), stacktest.Ack(rc.seq), stacktest.PayloadLen(6))
	pr.expectNone()
}
