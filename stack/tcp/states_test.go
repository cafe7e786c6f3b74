package tcp_test

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// The state diagram of RFC 9293 §3.3.2, state by state, against crafted
// segments and between two stacks.

// stateOf looks the connection up in the host's tables.
func (rc *rawConn) state() sock.State {
	st, ok := rc.pr.tcp().StateOf(netip.AddrPortFrom(addrB.Addr(), rc.hport), netip.AddrPortFrom(rc.pr.addr, rc.pport))
	if !ok {
		return sock.Closed
	}
	return st
}

// SYN-SENT (RFC 9293 §3.10.7.3).
func TestSynSent(t *testing.T) {
	t.Run("unacceptable ACK answered with RST", func(t *testing.T) {
		pr := newPeer(t)
		s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 7000))
		syn := pr.expect(stacktest.Flags(fSYN))
		assert.True(t, syn.Options.HasMSS && syn.Options.HasWS && syn.Options.SACKPermitted && syn.Options.HasTS, "all options offered")
		pr.send(stacktest.Segment{SrcPort: 7000, DstPort: syn.SrcPort, Seq: 1, Ack: syn.Seq + 5, Flags: fSYN | fACK, Window: 100})
		pr.expect(stacktest.Flags(fRST), stacktest.Seq(syn.Seq+5))
		assert.Equal(t, sock.SynSent, s.State())
		// A RST without ACK is dropped; one with an unacceptable ACK too.
		pr.send(stacktest.Segment{SrcPort: 7000, DstPort: syn.SrcPort, Seq: 1, Flags: fRST})
		pr.send(stacktest.Segment{SrcPort: 7000, DstPort: syn.SrcPort, Seq: 1, Ack: syn.Seq, Flags: fRST | fACK})
		pr.expectNone()
		assert.Equal(t, sock.SynSent, s.State())
		// Neither SYN nor RST: dropped.
		before := pr.drops(stat.DropTCPSynSent)
		pr.send(stacktest.Segment{SrcPort: 7000, DstPort: syn.SrcPort, Seq: 1, Payload: []byte("x")})
		assert.Equal(t, before+1, pr.drops(stat.DropTCPSynSent))
		// A RST acknowledging the SYN: refused.
		pr.send(stacktest.Segment{SrcPort: 7000, DstPort: syn.SrcPort, Seq: 1, Ack: syn.Seq + 1, Flags: fRST | fACK})
		assert.Equal(t, sock.Closed, s.State())
		assert.ErrorIs(t, s.SockError(), syscall.ECONNREFUSED)
		s.Close()
	})
	t.Run("EALREADY and EISCONN", func(t *testing.T) {
		pr := newPeer(t)
		s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 7001))
		assert.ErrorIs(t, s.Connect(netip.AddrPortFrom(pr.addr, 7001)), syscall.EALREADY)
		_, err := s.SendMsg([]byte("x"), 0)
		assert.ErrorIs(t, err, syscall.EAGAIN, "connecting")
		syn := pr.expect(stacktest.Flags(fSYN))
		pr.send(stacktest.Segment{SrcPort: 7001, DstPort: syn.SrcPort, Seq: 77, Ack: syn.Seq + 1, Flags: fSYN | fACK, Window: 1000, Options: stacktest.OptMSS(1000)})
		pr.expect(stacktest.Flags(fACK), stacktest.Ack(78))
		assert.Equal(t, sock.Established, s.State())
		assert.ErrorIs(t, s.Connect(netip.AddrPortFrom(pr.addr, 7001)), syscall.EISCONN)
		in := s.Info()
		assert.Equal(t, 1000, in.MSS, "the peer's MSS, no timestamps")
		assert.False(t, in.Timestamps)
		assert.False(t, in.WindowScaling)
		s.Close()
		pr.expect(stacktest.Flags(fFIN | fACK))
	})
	t.Run("SYN timeout", func(t *testing.T) {
		pr := newPeer(t)
		r := &recorder{}
		s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 7002))
		s.Callbacks = r
		syn := pr.expect(stacktest.Flags(fSYN))
		for i, d := range []time.Duration{1, 2, 4, 8, 16, 32} {
			pr.advance(d*time.Second + 10*time.Millisecond)
			pr.expect(stacktest.Flags(fSYN), stacktest.Seq(syn.Seq))
			assert.Equal(t, sock.SynSent, s.State(), "retransmission %d", i)
		}
		pr.advance(64*time.Second + 10*time.Millisecond)
		pr.expectNone()
		assert.Equal(t, sock.Closed, s.State())
		assert.ErrorIs(t, s.SockError(), syscall.ETIMEDOUT)
		assert.Positive(t, r.errs)
		s.Close()
	})
	t.Run("SYN-ACK with data", func(t *testing.T) {
		pr := newPeer(t)
		s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 7004))
		syn := pr.expect(stacktest.Flags(fSYN))
		pr.send(stacktest.Segment{SrcPort: 7004, DstPort: syn.SrcPort, Seq: 10, Ack: syn.Seq + 1, Flags: fSYN | fACK, Window: 1000, Payload: []byte("hi")})
		pr.expect(stacktest.Flags(fACK), stacktest.Ack(13)) // SYN and 2 bytes
		assert.Equal(t, sock.Established, s.State())
		assert.Equal(t, []byte("hi"), recvNow(t, s, 10))
		// SYN with FIN is never legal: dropped, counted.
		before := pr.drops(stat.DropTCPBadFlags)
		pr.send(stacktest.Segment{SrcPort: 7004, DstPort: syn.SrcPort, Seq: 13, Ack: syn.Seq + 1, Flags: fSYN | fFIN | fACK, Window: 1000})
		pr.expectNone()
		assert.Equal(t, before+1, pr.drops(stat.DropTCPBadFlags))
		s.Close()
		pr.expect(stacktest.Flags(fFIN|fACK), stacktest.Seq(syn.Seq+1))
	})
	t.Run("retransmitted SYN sets RTO to 3s", func(t *testing.T) {
		pr := newPeer(t)
		s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 7003))
		syn := pr.expect(stacktest.Flags(fSYN))
		pr.advance(1010 * time.Millisecond)
		pr.expect(stacktest.Flags(fSYN))
		pr.send(stacktest.Segment{SrcPort: 7003, DstPort: syn.SrcPort, Seq: 1, Ack: syn.Seq + 1, Flags: fSYN | fACK, Window: 1000})
		pr.expect(stacktest.Flags(fACK))
		assert.Equal(t, 3*time.Second, s.Info().RTO, "RFC 6298 §5.7")
		s.Close()
		pr.expect(stacktest.Flags(fFIN | fACK))
	})
}

// ESTABLISHED with a crafted peer: data, ACKs, FIN from the peer first.
func TestEstablishedPeerClosesFirst(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	rc := pr.accept(l, 5000, 1000, synOpts(1))
	r := &recorder{}
	rc.s.Callbacks = r
	rc.send(fACK|fPSH, []byte("ping"))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq)) // quickack at the start
	assert.Positive(t, r.data)
	buf := make([]byte, 10)
	n, err := rc.s.RecvMsg(buf, sock.MsgPeek)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	n, err = rc.s.RecvMsg(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	_, err = rc.s.RecvMsg(buf, 0)
	assert.ErrorIs(t, err, syscall.EAGAIN)

	n, err = rc.s.SendMsg([]byte("pong"), 0)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	d := rc.expect(stacktest.Flags(fACK|fPSH), stacktest.PayloadLen(4), stacktest.Seq(rc.iss+1))
	assert.Equal(t, "pong", string(d.Payload))
	rc.send(fACK, nil)
	rc.expectNoneHelper()

	// The peer closes: CLOSE-WAIT, end of stream for the reader.
	rc.send(fFIN|fACK, nil)
	assert.Equal(t, sock.CloseWait, rc.s.State())
	n, err = rc.s.RecvMsg(buf, 0)
	assert.Zero(t, n)
	assert.NoError(t, err, "end of stream")
	// Half-closed: we may still send.
	_, err = rc.s.SendMsg([]byte("more"), 0)
	require.NoError(t, err)
	rc.expect(stacktest.Flags(fACK|fPSH), stacktest.PayloadLen(4), stacktest.Ack(rc.seq)) // the data carries the ACK of the FIN
	rc.send(fACK, nil)
	// Close: LAST-ACK, then CLOSED when the FIN is acknowledged.
	rc.s.Close()
	fin := rc.expect(stacktest.Flags(fFIN | fACK))
	assert.Equal(t, sock.LastAck, rc.state())
	rc.send(fACK, nil)
	assert.Equal(t, rc.ack, fin.Seq+1)
	assert.Equal(t, sock.Closed, rc.state())
	pr.expectNone()
	l.Close()
}

// expectNoneHelper checks the connection is quiet.
func (rc *rawConn) expectNoneHelper() { rc.pr.expectNone() }

// ESTABLISHED: we close first; FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT for 2 MSL.
func TestActiveCloseTimeWait(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(8000, 5000, synOpts(10))
	s := rc.s
	require.NoError(t, s.Shutdown(syscall.SHUT_WR))
	rc.expect(stacktest.Flags(fFIN | fACK))
	assert.Equal(t, sock.FinWait1, rc.state())
	_, err := s.SendMsg([]byte("x"), 0)
	assert.ErrorIs(t, err, syscall.EPIPE, "after shutdown for writing")
	rc.send(fACK, nil)
	assert.Equal(t, sock.FinWait2, rc.state())
	// The peer may still send in FIN-WAIT-2.
	rc.send(fACK|fPSH, []byte("late"))
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	assert.Equal(t, []byte("late"), recvNow(t, s, 10))
	rc.send(fFIN|fACK, nil)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	assert.Equal(t, sock.TimeWait, rc.state())
	assert.Equal(t, sock.Closed, s.State(), "the socket is done; TIME-WAIT lives on without it")
	_, _, tw, _ := pr.tcp().Counts()
	assert.Equal(t, 1, tw)

	// A retransmitted FIN is ACKed again.
	rc.seq--
	rc.send(fFIN|fACK, nil)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	// RFC 1337: a RST does not end TIME-WAIT.
	pr.send(rc.seg(fRST, nil))
	pr.expectNone()
	assert.Equal(t, sock.TimeWait, rc.state())

	pr.advance(59 * time.Second)
	assert.Equal(t, sock.TimeWait, rc.state())
	pr.advance(1*time.Second + 10*time.Millisecond)
	assert.Equal(t, sock.Closed, rc.state(), "2 MSL = 60 s")
	s.Close()
	_, _, tw, _ = pr.tcp().Counts()
	assert.Zero(t, tw)

	// The duration is settable.
	pr.tcp().SetTimeWait(5 * time.Second)
	rc = pr.dial(8010, 5000, synOpts(10))
	rc.s.Close()
	rc.expect(stacktest.Flags(fFIN | fACK))
	rc.send(fFIN|fACK, nil)
	rc.expect(stacktest.Flags(fACK))
	assert.Equal(t, sock.TimeWait, rc.state())
	pr.advance(5*time.Second + 10*time.Millisecond)
	assert.Equal(t, sock.Closed, rc.state())
}

// recvNow reads what is queued.
func recvNow(t testing.TB, s interface {
	RecvMsg([]byte, int) (int, error)
}, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	k, err := s.RecvMsg(buf, 0)
	require.NoError(t, err)
	return buf[:k]
}

// TIME-WAIT on the passive side, reused by a new SYN with a higher
// sequence number or a newer timestamp (RFC 9293 §3.10.7.4, RFC 6191).
func TestTimeWaitReuse(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	toTimeWait := func(pport uint16, tsOn bool) *rawConn {
		o := stacktest.Options(stacktest.OptMSS(1460))
		if tsOn {
			o = synOpts(100)
		}
		rc := pr.accept(l, pport, 1000, o)
		rc.s.Close()
		rc.expect(stacktest.Flags(fFIN | fACK))
		rc.send(fFIN|fACK, nil)
		rc.expect(stacktest.Flags(fACK))
		require.Equal(t, sock.TimeWait, rc.state())
		return rc
	}
	t.Run("higher sequence number", func(t *testing.T) {
		rc := toTimeWait(6000, false)
		before := pr.tcp().Stats().TimeWaitReused.Load()
		pr.send(stacktest.Segment{SrcPort: 6000, DstPort: 80, Seq: rc.seq + 100000, Flags: fSYN, Window: 1000})
		sa := pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Ack(rc.seq+100001))
		assert.Equal(t, rc.ack+65535+2-1+1, sa.Seq, "ISN above the old connection's SND.NXT")
		assert.Equal(t, before+1, pr.tcp().Stats().TimeWaitReused.Load())
		assert.Equal(t, sock.SynRecv, rc.state())
	})
	t.Run("lower sequence number: an old duplicate", func(t *testing.T) {
		rc := toTimeWait(6001, false)
		pr.send(stacktest.Segment{SrcPort: 6001, DstPort: 80, Seq: rc.seq - 10, Flags: fSYN, Window: 1000})
		pr.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
		assert.Equal(t, sock.TimeWait, rc.state())
	})
	t.Run("newer timestamp", func(t *testing.T) {
		rc := toTimeWait(6002, true)
		pr.send(stacktest.Segment{SrcPort: 6002, DstPort: 80, Seq: rc.seq - 10, Flags: fSYN, Window: 1000, Options: stacktest.Options(stacktest.OptTS(rc.tsVal+5, 0))})
		pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Ack(rc.seq-9))
		assert.Equal(t, sock.SynRecv, rc.state())
	})
	l.Close()
}

// FIN-WAIT-2 of an orphan times out with a RST.
func TestFinWait2Timeout(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(8001, 5000, synOpts(10))
	rc.s.Close()
	rc.expect(stacktest.Flags(fFIN | fACK))
	rc.send(fACK, nil)
	assert.Equal(t, sock.FinWait2, rc.state())
	pr.advance(59 * time.Second)
	assert.Equal(t, sock.FinWait2, rc.state())
	pr.advance(1*time.Second + 10*time.Millisecond)
	rc.expect(stacktest.Flags(fRST | fACK))
	assert.Equal(t, sock.Closed, rc.state())
	assert.Equal(t, uint64(1), pr.tcp().Stats().FinWait2Timeouts.Load())
}

// Simultaneous close: FIN-WAIT-1, CLOSING, TIME-WAIT (RFC 9293 §3.6,
// figure 13).
func TestSimultaneousCloseCrafted(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(8002, 5000, synOpts(10))
	rc.s.Close()
	fin := rc.expect(stacktest.Flags(fFIN | fACK))
	// The peer's FIN crosses ours: it does not acknowledge our FIN.
	pr.send(stacktest.Segment{SrcPort: rc.pport, DstPort: rc.hport, Seq: rc.seq, Ack: fin.Seq, Flags: fFIN | fACK, Window: 1000, Options: stacktest.OptTS(rc.tsVal+1, rc.tsEcr)})
	rc.seq++
	rc.tsVal++
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(rc.seq))
	assert.Equal(t, sock.Closing, rc.state())
	rc.send(fACK, nil)
	assert.Equal(t, sock.TimeWait, rc.state())
}

// Simultaneous open and close between two stacks: SYN-SENT to
// SYN-RECEIVED to ESTABLISHED on both sides, then FIN-WAIT-1, CLOSING,
// TIME-WAIT on both.
func TestSimultaneousOpenClose(t *testing.T) {
	p := newPair(t)
	a, b := p.ta().NewSock(), p.tb().NewSock()
	ra, rb := &recorder{}, &recorder{}
	a.Callbacks, b.Callbacks = ra, rb
	require.NoError(t, a.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	require.NoError(t, a.Bind(netip.AddrPortFrom(addrA.Addr(), 5000)))
	require.NoError(t, b.Bind(netip.AddrPortFrom(addrB.Addr(), 6000)))
	require.ErrorIs(t, a.Connect(netip.AddrPortFrom(addrB.Addr(), 6000)), syscall.EINPROGRESS)
	require.ErrorIs(t, b.Connect(netip.AddrPortFrom(addrA.Addr(), 5000)), syscall.EINPROGRESS)
	// Deliver both SYNs before either side answers.
	p.A.Stacks()[0].Loop().Flush()
	p.B.Stacks()[0].Loop().Flush()
	p.A.Stacks()[0].Loop().Poll()
	assert.Equal(t, sock.SynRecv, a.State(), "a got b's SYN while in SYN-SENT")
	p.PumpUntil("both established", func() bool {
		return a.State() == sock.Established && b.State() == sock.Established
	})
	want := []sock.State{sock.SynSent, sock.SynRecv, sock.Established}
	assert.Equal(t, want, ra.states)
	assert.Equal(t, want, rb.states)
	assert.True(t, bytes.Equal([]byte("simultaneous"), p.transfer(a, b, []byte("simultaneous"))))
	a.Close()
	b.Close()
	p.A.Stacks()[0].Loop().Flush()
	p.B.Stacks()[0].Loop().Flush()
	p.A.Stacks()[0].Loop().Poll()
	sa, _ := p.ta().StateOf(netip.AddrPortFrom(addrA.Addr(), 5000), netip.AddrPortFrom(addrB.Addr(), 6000))
	assert.Equal(t, sock.Closing, sa)
	p.Pump(4)
	sa, _ = p.ta().StateOf(netip.AddrPortFrom(addrA.Addr(), 5000), netip.AddrPortFrom(addrB.Addr(), 6000))
	sb, _ := p.tb().StateOf(netip.AddrPortFrom(addrB.Addr(), 6000), netip.AddrPortFrom(addrA.Addr(), 5000))
	assert.Equal(t, sock.TimeWait, sa)
	assert.Equal(t, sock.TimeWait, sb)
	// The port stays bound while in TIME-WAIT.
	c := p.ta().NewSock()
	assert.ErrorIs(t, c.Bind(netip.AddrPortFrom(addrA.Addr(), 5000)), syscall.EADDRINUSE)
	require.NoError(t, c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	assert.NoError(t, c.Bind(netip.AddrPortFrom(addrA.Addr(), 5000)), "SO_REUSEADDR on both binds over TIME-WAIT")
	c.Close()
}

// Half-close both ways between two stacks.
func TestHalfClose(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	require.NoError(t, c.cl.Shutdown(syscall.SHUT_WR))
	buf := make([]byte, 100)
	p.PumpUntil("server sees EOF", func() bool {
		n, err := c.sv.RecvMsg(buf, 0)
		return n == 0 && err == nil
	})
	// The other direction still works.
	got := p.transfer(c.sv, c.cl, pattern(50_000, 9))
	assert.True(t, bytes.Equal(pattern(50_000, 9), got))
	require.NoError(t, c.sv.Shutdown(syscall.SHUT_WR))
	p.PumpUntil("client sees EOF", func() bool {
		n, err := c.cl.RecvMsg(buf, 0)
		return n == 0 && err == nil
	})
	// And the server-first variant on a new connection.
	d := p.connect(81)
	require.NoError(t, d.sv.Shutdown(syscall.SHUT_WR))
	p.PumpUntil("client sees EOF", func() bool {
		n, err := d.cl.RecvMsg(buf, 0)
		return n == 0 && err == nil
	})
	got = p.transfer(d.cl, d.sv, pattern(50_000, 10))
	assert.True(t, bytes.Equal(pattern(50_000, 10), got))
	// SHUT_RD: the reader sees end of stream at once.
	require.NoError(t, d.sv.Shutdown(syscall.SHUT_RD))
	n, err := d.sv.RecvMsg(buf, 0)
	assert.Zero(t, n)
	assert.NoError(t, err)
	for _, s := range []interface{ Close() }{c.cl, c.sv, d.cl, d.sv, c.ln, d.ln} {
		s.Close()
	}
	p.Advance(time.Second)
}

// Retransmission by RTO (RFC 6298): a lost segment is sent again after
// the RTO, which doubles on each timeout; Karn's rule keeps retransmitted
// segments out of the RTT estimate.
func TestRetransmissionTimeout(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(8003, 5000, stacktest.OptMSS(1460)) // no timestamps: their echo would give a sample (RFC 7323 §4)
	s := rc.s
	_, err := s.SendMsg([]byte("lost"), 0)
	require.NoError(t, err)
	first := rc.expect(stacktest.Flags(fACK|fPSH), stacktest.PayloadLen(4))
	rto := s.Info().RTO
	assert.Equal(t, 200*time.Millisecond, rto.Round(time.Millisecond), "200 ms floor")
	pr.advance(rto - 5*time.Millisecond)
	pr.expectNone()
	pr.advance(10 * time.Millisecond)
	again := rc.expect(stacktest.Flags(fACK|fPSH), stacktest.PayloadLen(4), stacktest.Seq(first.Seq))
	assert.Equal(t, first.Payload, again.Payload)
	in := s.Info()
	assert.Equal(t, 1, in.Backoff)
	assert.Equal(t, uint32(1), in.Cwnd, "RFC 5681 §3.1: cwnd 1 after an RTO")
	pr.advance(2*rto + 10*time.Millisecond)
	rc.expect(stacktest.Seq(first.Seq), stacktest.PayloadLen(4))
	assert.Equal(t, 2, s.Info().Backoff)
	srtt := s.Info().SRTT
	pr.advance(100 * time.Millisecond)
	rc.send(fACK, nil)
	in = s.Info()
	assert.Zero(t, in.Backoff)
	assert.Zero(t, in.PacketsOut)
	assert.Equal(t, srtt, in.SRTT, "Karn: no sample from a retransmitted segment")
	assert.Equal(t, uint64(2), pr.tcp().Stats().RetransSegs.Load())
	s.Close()
}

// A segment lost between two stacks, with too few segments after it to
// bring three duplicate ACKs (RFC 5681 §3.2), starts no recovery at
// once; with SACK, RACK's reordering timer (RFC 8985 §6.3) then marks it
// lost and recovery repairs it, before the RTO would have.
func TestRetransmissionBetweenStacks(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	data := pattern(3000, 4) // three segments: two duplicate ACKs at most
	n, err := c.cl.SendMsg(data, 0)
	require.NoError(t, err)
	p.A.Stacks()[0].Loop().Flush()
	// Lose the first frame on the wire.
	lost := p.Rings.B.RxBurst(0, burstOf(1))
	require.Equal(t, 1, lost)
	freeBurst()
	p.Pump(4)
	buf := make([]byte, 65536)
	k, err := c.sv.RecvMsg(buf, 0)
	assert.ErrorIs(t, err, syscall.EAGAIN, "the rest waits out of order")
	assert.Zero(t, k)
	assert.Positive(t, c.sv.Info().OFOQueue)
	assert.Zero(t, p.ta().Stats().Recoveries.Load(), "no fast retransmit on two duplicate ACKs")
	p.Advance(250 * time.Millisecond)
	got := p.recvAll(c.sv, n)
	assert.True(t, bytes.Equal(data[:n], got))
	st := p.ta().Stats()
	assert.Zero(t, st.Timeouts.Load(), "no RTO")
	assert.Positive(t, st.RACKReoTimeouts.Load())
	assert.Equal(t, uint64(1), st.RACKLosses.Load())
}

// A retransmission while the receiver still holds the first copy of the
// segment (a clone sharing the sender's buffer) goes out as a copy, as
// Linux does with pskb_copy: two headers are never written into one
// buffer, and the data arrives intact.
func TestRetransmitWhileCloneHeld(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	data := pattern(3000, 8)
	_, err := c.cl.SendMsg(data, 0)
	require.NoError(t, err)
	p.A.Stacks()[0].Loop().Flush()
	p.B.Stacks()[0].Loop().Poll() // the server queues the clones, unread
	// Lose the server's ACKs.
	p.B.Stacks()[0].Loop().Flush()
	for p.Rings.A.RxBurst(0, burstOf(32)) > 0 {
		freeBurst()
	}
	freeBurst()
	p.Advance(c.cl.Info().RTO + 50*time.Millisecond)
	assert.Positive(t, p.ta().Stats().RetransSegs.Load())
	assert.Positive(t, p.tb().Stats().DSACKSent.Load(), "the copy was a duplicate")
	assert.True(t, bytes.Equal(data, p.recvAll(c.sv, len(data))))
	c.cl.Close()
	c.sv.Close()
}

// A socket given up with Release comes back from NewSock once its
// connection is done and the turn ended, zeroed; one given up with Close
// (whose user may still read it) never does.
func TestReleasedSockReused(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	c.cl.Release()
	p.PumpUntil("server sees the FIN", func() bool { return c.sv.State() == sock.CloseWait })
	c.sv.Close()
	p.PumpUntil("client in TIME-WAIT", func() bool { return p.ta().Census().TimeWait == 1 })
	p.PumpUntil("server closed", func() bool { return c.sv.State() == sock.Closed })
	p.Pump(1) // the turn ends: TurnDone

	s := p.ta().NewSock()
	require.Same(t, c.cl, s, "the released socket is reused")
	assert.Equal(t, sock.Closed, s.State())
	assert.False(t, s.LocalAddr().IsValid())
	assert.Zero(t, s.Info().SRTT, "no state of the old connection")
	assert.Zero(t, s.Info().PeerMSS)
	assert.NotSame(t, c.sv, p.tb().NewSock(), "a closed socket is not reused")

	// The reused socket makes a connection like a new one.
	require.ErrorIs(t, s.Connect(netip.AddrPortFrom(addrB.Addr(), 80)), syscall.EINPROGRESS)
	var sv *tcp.Sock
	p.PumpUntil("accept", func() bool {
		a, err := c.ln.AcceptSock()
		sv = a
		return err == nil
	})
	p.PumpUntil("established", func() bool { return s.State() == sock.Established })
	got := p.transfer(s, sv, pattern(3000, 9))
	assert.Equal(t, pattern(3000, 9), got)
	s.Close()
	sv.Close()
}
