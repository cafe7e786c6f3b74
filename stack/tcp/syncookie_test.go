package tcp_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// cookiePeriod is the SYN cookie counter's period (syncookie.go).
const cookiePeriod = 64 * time.Second

// flooder sends SYNs from many addresses and ports, none of which ever
// answers, into a raw peer's host.
type flooder struct {
	pr    *peer
	addrs []netip.Addr
	n     int // SYNs sent so far: picks the next address and port
	tx    []*mbuf.Buf
}

// newFlooder makes n addresses in 198.18.1.0/24, besides the peer's and
// the host's, known neighbours of the host (behind the peer's MAC), so
// that its answers to them go out at once.
func newFlooder(pr *peer, n int) *flooder {
	f := &flooder{pr: pr, tx: make([]*mbuf.Buf, 1)}
	st := pr.h.Stacks()[0]
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 18, 1, byte(100 + i)})
		st.Routes().Neighbours().Update(st.Device(), a, pr.mac, true)
		f.addrs = append(f.addrs, a)
	}
	return f
}

// frameFrom is the peer's frame of s, sent from src instead.
func (pr *peer) frameFrom(src netip.Addr, s stacktest.Segment) []byte {
	saved := pr.addr
	pr.addr = src
	defer func() { pr.addr = saved }()
	return pr.frame(s)
}

// next is the frame of the flood's next SYN to port.
func (f *flooder) next(port uint16) []byte {
	a := f.addrs[f.n%len(f.addrs)]
	sport := uint16(10000 + f.n/len(f.addrs))
	f.n++
	return f.pr.frameFrom(a, stacktest.Segment{SrcPort: sport, DstPort: port, Seq: uint32(f.n) * 7919, Flags: fSYN, Window: 65535,
		Options: synOpts(uint32(f.n))})
}

// send floods port with n SYNs, in bursts the rings hold, and throws the
// host's answers away.
func (f *flooder) send(port uint16, n int) {
	for i := 0; i < n; i++ {
		f.pr.inject(f.next(port))
		if i%32 == 31 {
			f.pr.poll(2)
			f.pr.inbox = f.pr.inbox[:0]
		}
	}
	f.pr.poll(2)
	f.pr.inbox = f.pr.inbox[:0]
}

// expectData is rc.expect for the host's next segment with data, past
// any pure ACKs (the quick ACKs of a new connection).
func (rc *rawConn) expectData(checks ...stacktest.Check) stacktest.Parsed {
	rc.pr.t.Helper()
	for range 4 {
		if r := rc.expect(checks...); len(r.Payload) > 0 {
			return r
		}
	}
	rc.pr.t.Fatal("no data came")
	return stacktest.Parsed{}
}

// cookieListener is a listener with a tiny backlog whose SYN queue the
// flood has filled: further SYNs get SYN cookies.
func cookieListener(t *testing.T, port uint16) (*peer, *flooder, *tcp.Sock) {
	t.Helper()
	pr := newPeer(t)
	l := listen(t, pr.h, port, 1)
	f := newFlooder(pr, 64)
	f.send(port, 40)
	st := pr.tcp().Stats()
	_, reqs, _, _ := pr.tcp().Counts()
	require.Equal(t, 16, reqs, "the SYN queue holds its minimum")
	require.Equal(t, uint64(24), st.SynCookiesSent.Load(), "the rest got cookies")
	return pr, f, l
}

// RFC 4987 §3.6: with the SYN queue full, a SYN is answered with a cookie
// and no state; the ACK that brings the cookie back makes the connection,
// with the MSS, window scale, SACK and timestamps the SYN offered.
func TestSynCookieHandshake(t *testing.T) {
	pr, _, l := cookieListener(t, 80)
	st := pr.tcp().Stats()
	cases := []struct {
		name    string
		opts    []byte
		tsOpt   uint32 // the low bits of the SYN-ACK's TSval, when timestamps are on
		peerMSS int
		ws      int // the peer's shift; -1: no window scaling
		sack    bool
		ts      bool
	}{
		{"Linux SYN", synOpts(1000), 7 | 16, 1460, 7, true, true},
		{"MSS between entries", stacktest.Options(stacktest.OptMSS(1400), stacktest.OptSACKPerm(), stacktest.OptTS(5, 0), stacktest.OptWS(3)), 3 | 16, 1300, 3, true, true},
		{"large MSS, shift 14, no SACK", stacktest.Options(stacktest.OptMSS(9000), stacktest.OptTS(5, 0), stacktest.OptWS(14)), 14, 1460, 14, false, true},
		{"no MSS, no window scale", stacktest.Options(stacktest.OptSACKPerm(), stacktest.OptTS(5, 0)), 15 | 16, 536, -1, true, true},
		{"no timestamps: nothing else offered", stacktest.Options(stacktest.OptMSS(1440), stacktest.OptSACKPerm(), stacktest.OptWS(7)), 0, 1440, -1, false, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sent, recv := st.SynCookiesSent.Load(), st.SynCookiesRecv.Load()
			pport := uint16(2000 + i)
			pr.send(stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 70000, Flags: fSYN, Window: 65535, Options: c.opts})
			sa := pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Ack(70001), stacktest.Ports(80, pport))
			assert.Equal(t, sent+1, st.SynCookiesSent.Load())
			_, ok := pr.tcp().StateOf(netip.AddrPortFrom(addrB.Addr(), 80), netip.AddrPortFrom(pr.addr, pport))
			assert.False(t, ok, "a cookie keeps no state")
			assert.Equal(t, uint16(1460), sa.Options.MSS)
			assert.Equal(t, c.ts, sa.Options.HasTS)
			assert.Equal(t, c.ts && c.ws >= 0, sa.Options.HasWS)
			assert.Equal(t, c.ts && c.sack, sa.Options.SACKPermitted)
			if c.ts {
				assert.Equal(t, c.tsOpt, sa.Options.TSVal&63, "options in the TSval")
			}

			rc := &rawConn{pr: pr, pport: pport, hport: 80, seq: 70001, ack: sa.Seq + 1, wnd: 1000, ts: c.ts,
				tsVal: 5, tsEcr: sa.Options.TSVal, iss: sa.Seq}
			rc.send(fACK, nil)
			s, err := l.AcceptSock()
			require.NoError(t, err)
			rc.s = s
			assert.Equal(t, recv+1, st.SynCookiesRecv.Load())
			in := s.Info()
			assert.Equal(t, sock.Established, in.State)
			assert.Equal(t, c.peerMSS, in.PeerMSS)
			assert.Equal(t, c.ws >= 0, in.WindowScaling)
			if c.ws >= 0 {
				assert.Equal(t, c.ws, in.SndWscale)
				assert.Equal(t, int(sa.Options.WS), in.RcvWscale)
			}
			assert.Equal(t, c.sack, in.SACK)
			assert.Equal(t, c.ts, in.Timestamps)

			// Data both ways.
			rc.send(fACK|fPSH, []byte("ping"))
			buf := make([]byte, 16)
			n, err := s.RecvMsg(buf, 0)
			require.NoError(t, err)
			assert.Equal(t, "ping", string(buf[:n]))
			_, err = s.SendMsg([]byte("pong"), 0)
			require.NoError(t, err)
			pr.poll(2)
			r := rc.expectData(stacktest.Seq(sa.Seq+1), stacktest.Ack(70005))
			assert.Equal(t, "pong", string(r.Payload))
			rc.send(fACK, nil)
			pr.expectNone()
		})
	}
}

// A forged ACK and a cookie too old make no connection: as for any ACK to
// a listener (RFC 9293 §3.10.7.2), the answer is <SEQ=SEG.ACK><CTL=RST>.
// A cookie from the previous period is still good.
func TestSynCookieRejected(t *testing.T) {
	pr, f, l := cookieListener(t, 80)
	st := pr.tcp().Stats()
	local := netip.AddrPortFrom(addrB.Addr(), 80)

	t.Run("forged", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 10 {
			failed := st.SynCookiesFailed.Load()
			drops := pr.drops(stat.DropTCPListenACK)
			ack := rng.Uint32()
			pport := uint16(3000 + i)
			pr.send(stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 5001, Ack: ack, Flags: fACK, Window: 1000, Options: stacktest.OptTS(9, ack)})
			pr.expect(stacktest.Flags(fRST), stacktest.Seq(ack), stacktest.Ports(80, pport))
			assert.Equal(t, failed+1, st.SynCookiesFailed.Load())
			assert.Equal(t, drops+1, pr.drops(stat.DropTCPListenACK))
			_, ok := pr.tcp().StateOf(local, netip.AddrPortFrom(pr.addr, pport))
			assert.False(t, ok)
		}
		_, err := l.AcceptSock()
		assert.Error(t, err)
	})

	// cookie gets a cookie SYN-ACK for pport.
	cookie := func(pport uint16) stacktest.Parsed {
		pr.send(stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 5000, Flags: fSYN, Window: 65535, Options: synOpts(9)})
		return pr.expect(stacktest.Flags(fSYN|fACK), stacktest.Ports(80, pport))
	}
	// late advances the clock by d, lets the requests' timers run, and
	// overflows the SYN queue again, so that the listener checks cookies.
	late := func(d time.Duration) {
		pr.advance(d)
		pr.inbox = pr.inbox[:0]
		f.send(80, 20)
	}
	ackOf := func(pport uint16, sa stacktest.Parsed) stacktest.Segment {
		return stacktest.Segment{SrcPort: pport, DstPort: 80, Seq: 5001, Ack: sa.Seq + 1, Flags: fACK, Window: 1000, Options: stacktest.OptTS(10, sa.Options.TSVal)}
	}

	t.Run("stale", func(t *testing.T) {
		sa := cookie(3100)
		late(2 * cookiePeriod)
		failed := st.SynCookiesFailed.Load()
		pr.send(ackOf(3100, sa))
		pr.expect(stacktest.Flags(fRST), stacktest.Seq(sa.Seq+1), stacktest.Ports(80, 3100))
		assert.Equal(t, failed+1, st.SynCookiesFailed.Load())
		_, ok := pr.tcp().StateOf(local, netip.AddrPortFrom(pr.addr, 3100))
		assert.False(t, ok)
		_, err := l.AcceptSock()
		assert.Error(t, err)
	})

	t.Run("previous period", func(t *testing.T) {
		sa := cookie(3200)
		late(cookiePeriod)
		recv := st.SynCookiesRecv.Load()
		pr.send(ackOf(3200, sa))
		pr.expectNone()
		assert.Equal(t, recv+1, st.SynCookiesRecv.Load())
		s, err := l.AcceptSock()
		require.NoError(t, err)
		assert.Equal(t, sock.Established, s.State())
	})

	t.Run("no recent overflow", func(t *testing.T) {
		sa := cookie(3300)
		pr.advance(2*cookiePeriod + time.Second)
		pr.inbox = pr.inbox[:0]
		failed := st.SynCookiesFailed.Load()
		pr.send(ackOf(3300, sa))
		pr.expect(stacktest.Flags(fRST), stacktest.Seq(sa.Seq+1))
		assert.Equal(t, failed, st.SynCookiesFailed.Load(), "not checked as a cookie")
	})
}

// The scenario of issue 4: 10,000 SYNs of a flood, interleaved with 100
// legitimate connections, which all complete (by cookie) and exchange
// data. Nothing is left holding an mbuf, and a cookie SYN-ACK allocates
// nothing on the Go heap.
func TestSynCookieFlood(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 80, 4)
	st := pr.tcp().Stats()
	f := newFlooder(pr, 64)
	base := stacktest.InUse(pr.h)
	buf := make([]byte, 64)
	var conns []*rawConn
	for i := range 100 {
		f.send(80, 100)
		pport := uint16(20000 + i)
		rc := pr.accept(l, pport, uint32(i)*100003, synOpts(uint32(i)))
		conns = append(conns, rc)
		msg := []byte{'c', byte(i)}
		rc.send(fACK|fPSH, msg)
		n, err := rc.s.RecvMsg(buf, 0)
		require.NoError(t, err)
		require.Equal(t, msg, buf[:n])
		_, err = rc.s.SendMsg([]byte{'s', byte(i)}, 0)
		require.NoError(t, err)
		pr.poll(2)
		r := rc.expectData()
		require.Equal(t, []byte{'s', byte(i)}, r.Payload)
		rc.send(fACK, nil)
	}
	assert.Equal(t, 10000, f.n)
	assert.Equal(t, uint64(100), st.SynCookiesRecv.Load(), "every legitimate connection came by cookie")
	assert.Equal(t, uint64(10000+100-16), st.SynCookiesSent.Load())
	assert.Zero(t, st.SynCookiesFailed.Load())
	est, reqs, _, _ := pr.tcp().Counts()
	assert.Equal(t, 100, est)
	assert.Equal(t, 16, reqs)
	for _, rc := range conns {
		assert.Equal(t, sock.Established, rc.s.State())
	}
	pr.poll(2)
	pr.inbox = pr.inbox[:0]
	assert.Equal(t, base, stacktest.InUse(pr.h), "pool in use back at baseline")

	// A cookie SYN-ACK allocates nothing.
	frame := f.next(80)
	synAck := func() {
		b := pr.pool.Alloc()
		copy(b.Put(len(frame)), frame)
		f.tx[0] = b
		if pr.rp.A.TxBurst(0, f.tx) != 1 {
			t.Fatal("ring full")
		}
		pr.h.Stacks()[0].Loop().Poll()
		if pr.rp.A.RxBurst(0, burstOf(1)) != 1 {
			t.Fatal("no SYN-ACK")
		}
		freeBurst()
	}
	synAck()
	sent := st.SynCookiesSent.Load()
	assert.Zero(t, testing.AllocsPerRun(200, synAck))
	assert.Equal(t, sent+201, st.SynCookiesSent.Load())
	assert.Equal(t, base, stacktest.InUse(pr.h))
}
