package tcp_test

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

func TestMain(m *testing.M) { dpdktest.Main(m, "tcp", dpdk.EALConfig{}) }

// addrA and addrB are the addresses of a pair's hosts.
var addrA, addrB = stacktest.AddrA, stacktest.AddrB

var seqNo atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, seqNo.Add(1)) }

// pair is two hosts on a manual clock, each the other's known neighbour,
// joined by a ring pair or a fault wire.
type pair struct{ *stacktest.Pair }

func newPair(t testing.TB) *pair { return newPairWith(t, 0, false) }

// newPairPool is newPair with a pool of poolA mbufs for host a.
func newPairPool(t testing.TB, poolA int) *pair { return newPairWith(t, poolA, false) }

// newPairWith is newPair with a pool of poolA mbufs for host a (0: the
// default), and a ring pair that offers TCP checksum offload when
// csumOffload is set.
func newPairWith(t testing.TB, poolA int, csumOffload bool) *pair {
	t.Helper()
	return &pair{stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("tp"), PoolA: poolA,
		CsumOffload: csumOffload, ManualClock: true, KnownNeighbours: true})}
}

func (p *pair) ta() *tcp.Proto { return p.A.Stacks()[0].TCP() }
func (p *pair) tb() *tcp.Proto { return p.B.Stacks()[0].TCP() }

// recorder collects a socket's events, and the states it was told of.
type recorder struct {
	data, write, state, errs int
	states                   []sock.State
}

func (r *recorder) DataReady(*sock.Sock)  { r.data++ }
func (r *recorder) WriteSpace(*sock.Sock) { r.write++ }
func (r *recorder) StateChange(s *sock.Sock) {
	r.state++
	r.states = append(r.states, s.Common.State)
}
func (r *recorder) ErrorReport(*sock.Sock) { r.errs++ }

// conn is a connected pair of sockets, client on a, server on b.
type conn struct {
	cl, sv   *tcp.Sock
	ln       *tcp.Sock
	rcl, rsv *recorder
}

// listen makes a listener on h at port.
func listen(t testing.TB, h *stack.Host, port uint16, backlog int) *tcp.Sock {
	t.Helper()
	l := h.Stacks()[0].TCP().NewSock()
	require.NoError(t, l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), port)))
	require.NoError(t, l.Listen(backlog))
	return l
}

// dial connects a socket of h to addr and returns it with EINPROGRESS
// checked.
func dial(t testing.TB, h *stack.Host, addr netip.AddrPort) *tcp.Sock {
	t.Helper()
	s := h.Stacks()[0].TCP().NewSock()
	require.ErrorIs(t, s.Connect(addr), syscall.EINPROGRESS)
	return s
}

// connect makes an established connection from a to b's port.
func (p *pair) connect(port uint16) *conn {
	p.T.Helper()
	c := &conn{rcl: &recorder{}, rsv: &recorder{}}
	c.ln = listen(p.T, p.B, port, 16)
	c.cl = dial(p.T, p.A, netip.AddrPortFrom(addrB.Addr(), port))
	c.cl.Callbacks = c.rcl
	p.PumpUntil("accept", func() bool {
		s, err := c.ln.AcceptSock()
		if err == nil {
			c.sv = s
			return true
		}
		return false
	})
	c.sv.Callbacks = c.rsv
	p.PumpUntil("client established", func() bool { return c.cl.State() == sock.Established })
	require.Equal(p.T, sock.Established, c.sv.State())
	return c
}

// send writes all of data to s, pumping while the buffer is full.
func (p *pair) send(s *tcp.Sock, data []byte) {
	p.T.Helper()
	for i := 0; len(data) > 0; i++ {
		require.Less(p.T, i, 100000, "send never completes")
		n, err := s.SendMsg(data, 0)
		if err == syscall.EAGAIN {
			p.Pump(1)
			continue
		}
		require.NoError(p.T, err)
		data = data[n:]
	}
}

// recvAll reads from s until n bytes came, pumping.
func (p *pair) recvAll(s *tcp.Sock, n int) []byte {
	p.T.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, 65536)
	for i := 0; len(out) < n; i++ {
		require.Less(p.T, i, 100000, "only %d of %d bytes came", len(out), n)
		k, err := s.RecvMsg(buf, 0)
		if err == syscall.EAGAIN {
			p.Pump(1)
			continue
		}
		require.NoError(p.T, err)
		require.NotZero(p.T, k, "early end of stream after %d bytes", len(out))
		out = append(out, buf[:k]...)
	}
	return out
}

// transfer sends data from one socket to the other, reading as it goes,
// and returns what arrived.
func (p *pair) transfer(from, to *tcp.Sock, data []byte) []byte {
	p.T.Helper()
	out := make([]byte, 0, len(data))
	buf := make([]byte, 65536)
	want := len(data)
	for i := 0; len(out) < want; i++ {
		require.Less(p.T, i, 200000, "only %d of %d bytes came", len(out), want)
		if len(data) > 0 {
			n, err := from.SendMsg(data, 0)
			if err != syscall.EAGAIN {
				require.NoError(p.T, err)
				data = data[n:]
			}
		}
		p.Pump(1)
		k, err := to.RecvMsg(buf, 0)
		if err == syscall.EAGAIN {
			continue
		}
		require.NoError(p.T, err)
		require.NotZero(p.T, k, "early end of stream after %d bytes", len(out))
		out = append(out, buf[:k]...)
	}
	return out
}

// fill sends data on s over and over until its send buffer takes no
// more (a short send or EAGAIN).
func fill(t testing.TB, s *tcp.Sock, data []byte) {
	t.Helper()
	for {
		n, err := s.SendMsg(data, 0)
		if err == syscall.EAGAIN {
			return
		}
		require.NoError(t, err)
		if n < len(data) {
			return
		}
	}
}

// drain reads what s holds into buf and returns how many bytes it read.
func drain(t testing.TB, s *tcp.Sock, buf []byte) int {
	t.Helper()
	got := 0
	for {
		k, err := s.RecvMsg(buf, 0)
		if err == syscall.EAGAIN {
			return got
		}
		require.NoError(t, err)
		got += k
	}
}

// pattern is n bytes of a recognisable sequence.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// ---- The raw peer: crafted segments in, the stack's answers out. ----

// peer is a host under test (on the ring pair's B side) and the raw port
// on the A side through which the test injects frames and reads answers.
type peer struct {
	t     testing.TB
	h     *stack.Host
	rp    *dpdk.RingPair
	pool  *mbuf.Pool
	clk   *stacktest.Clock
	mac   header.MAC
	addr  netip.Addr // the raw peer's address
	inbox []stacktest.Parsed
	burst []*mbuf.Buf
	other int // frames that were neither TCP nor ARP
}

var peerMAC = header.MAC{0x02, 0, 0, 0, 0, 0x11}

func newPeer(t testing.TB) *peer { return newPeerMTU(t, 0) }

// newPeerMTU is newPeer with the host on an MTU.
func newPeerMTU(t testing.TB, mtu int) *peer { return newPeerWith(t, mtu, false) }

// newPeerWith is newPeer with the host on an MTU, and with the ring pair's
// LRO model on the host's port when lro is set (dpdk.RingPair.OffloadLRO).
func newPeerWith(t testing.TB, mtu int, lro bool) *peer {
	t.Helper()
	name := uniq("tr")
	rp, err := dpdk.NewRingPair(name, 1024)
	require.NoError(t, err)
	if lro {
		rp.OffloadLRO()
	}
	pr := &peer{t: t, rp: rp, clk: stacktest.NewClock(), mac: peerMAC, addr: addrA.Addr(), burst: mbuf.NewBurst(32)}
	pr.pool = dpdktest.Pool(t, 1023)
	_, err = rp.A.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: pr.pool})
	require.NoError(t, err)
	require.NoError(t, rp.A.Start())
	pr.h = stacktest.OpenHost(t, stacktest.HostConfig{Name: name + "b", Port: rp.B, Addr: addrB, MTU: mtu, Clock: pr.clk})
	// Known neighbour, so the first answer needs no ARP round.
	st := pr.h.Stacks()[0]
	st.Routes().Neighbours().Update(st.Device(), pr.addr, pr.mac, true)
	t.Cleanup(func() {
		pr.poll(4)
		pr.drain()
		require.NoError(t, pr.h.Close(), "host")
		require.NoError(t, rp.A.Stop())
		require.NoError(t, rp.Close())
	})
	return pr
}

func (pr *peer) tcp() *tcp.Proto { return pr.h.Stacks()[0].TCP() }

// poll runs n turns of the host's loop and collects what it sent.
func (pr *peer) poll(n int) {
	for range n {
		pr.h.Stacks()[0].Loop().Poll()
		pr.collect()
	}
}

// advance moves the clock on and fires the host's due timers.
func (pr *peer) advance(d time.Duration) {
	pr.clk.Add(d)
	stacktest.Fire(pr.h, pr.clk.Now())
	pr.poll(2)
}

// collect reads the frames the host sent: TCP segments go to the inbox,
// ARP requests for the peer are answered.
func (pr *peer) collect() {
	for {
		n := pr.rp.A.RxBurst(0, pr.burst)
		for _, b := range pr.burst[:n] {
			pr.take(b)
			b.Free()
		}
		if n < len(pr.burst) {
			return
		}
	}
}

// drain discards whatever is still in flight.
func (pr *peer) drain() {
	pr.collect()
	pr.inbox = nil
}

func (pr *peer) take(b *mbuf.Buf) {
	f := make([]byte, b.Len())
	b.ReadAt(f, 0)
	eth, ok := header.ParseEthernet(f)
	if !ok {
		pr.other++
		return
	}
	switch eth.EtherType() {
	case header.EtherTypeARP:
		a, ok := header.ParseARP(eth.Payload())
		if ok && a.Op() == header.ARPRequest && a.TargetIP() == pr.addr {
			r := make([]byte, header.ARPLen)
			header.ARP(r).Encode(header.ARPReply, pr.mac, pr.addr, a.SenderMAC(), a.SenderIP())
			pr.inject(stacktest.EthFrame(a.SenderMAC(), pr.mac, header.EtherTypeARP, r))
		}
		return
	case header.EtherTypeIPv4:
	default:
		pr.other++
		return
	}
	ip, perr := header.ParseIPv4(eth.Payload())
	if perr != header.IPv4OK || ip.Protocol() != header.IPProtoTCP {
		pr.other++
		return
	}
	rs, err := stacktest.ParseSegment(ip, b.OlFlags())
	require.NoError(pr.t, err, "the stack sent a malformed segment")
	pr.inbox = append(pr.inbox, rs)
}

// inject sends a raw frame into the host.
func (pr *peer) inject(frame []byte) { pr.injectFlags(frame, 0) }

// injectFlags sends a raw frame with receive offload flags set, as a port
// that checked checksums would (the ring port passes them through).
func (pr *peer) injectFlags(frame []byte, ol uint64) {
	b := pr.pool.Alloc()
	require.NotNil(pr.t, b)
	copy(b.Put(len(frame)), frame)
	b.SetOlFlags(ol)
	require.Equal(pr.t, 1, pr.rp.A.TxBurst(0, []*mbuf.Buf{b}))
}

// send injects a crafted segment and runs the host.
func (pr *peer) send(s stacktest.Segment) {
	pr.t.Helper()
	pr.inject(pr.frame(s))
	pr.poll(2)
}

// expect returns the next segment the host sent, checked.
func (pr *peer) expect(checks ...stacktest.Check) stacktest.Parsed {
	pr.t.Helper()
	for range 8 {
		if len(pr.inbox) > 0 {
			break
		}
		pr.poll(1)
	}
	require.NotEmpty(pr.t, pr.inbox, "the host sent no segment")
	rs := pr.inbox[0]
	pr.inbox = pr.inbox[1:]
	stacktest.CheckSegment(pr.t, rs, checks...)
	return rs
}

// expectNone checks that the host sent no segment.
func (pr *peer) expectNone() {
	pr.t.Helper()
	pr.poll(2)
	if len(pr.inbox) > 0 {
		pr.t.Fatalf("unexpected segment: %v", pr.inbox[0])
	}
}

// drops reads the host's drop counter for r.
func (pr *peer) drops(r stat.DropReason) uint64 {
	return pr.h.Stacks()[0].Device().Drops.Get(r)
}

// frame builds the Ethernet frame of s from the raw peer to the host.
func (pr *peer) frame(s stacktest.Segment) []byte {
	return s.Frame(pr.mac, pr.h.MAC(), pr.addr, pr.h.Addr().Addr())
}

// Flags for crafted segments.
const (
	fFIN = header.TCPFlagFIN
	fSYN = header.TCPFlagSYN
	fRST = header.TCPFlagRST
	fPSH = header.TCPFlagPSH
	fACK = header.TCPFlagACK
)

// rawConn is a connection between the raw peer and a socket of the host,
// with the peer's side of the sequence numbers kept by the test.
type rawConn struct {
	pr    *peer
	pport uint16 // the peer's port
	hport uint16 // the host's port
	seq   uint32 // the peer's next sequence number
	ack   uint32 // what the peer acknowledges: the host's next
	wnd   uint16
	ts    bool
	tsVal uint32 // the peer's timestamp clock
	tsEcr uint32 // the host's last TSval
	s     *tcp.Sock
	iss   uint32 // the host's ISS
}

// seg builds a segment of the connection from the peer.
func (rc *rawConn) seg(fl uint8, data []byte) stacktest.Segment {
	s := stacktest.Segment{SrcPort: rc.pport, DstPort: rc.hport, Seq: rc.seq, Ack: rc.ack, Flags: fl, Window: rc.wnd, Payload: data}
	if rc.ts {
		rc.tsVal++
		s.Options = stacktest.OptTS(rc.tsVal, rc.tsEcr)
	}
	return s
}

// send sends a segment of the connection and advances the peer's
// sequence number.
func (rc *rawConn) send(fl uint8, data []byte) {
	rc.pr.t.Helper()
	s := rc.seg(fl, data)
	rc.pr.send(s)
	rc.seq += uint32(len(data))
	if fl&(fSYN|fFIN) != 0 {
		rc.seq++
	}
}

// expect reads the host's next segment of the connection and tracks its
// sequence number and timestamp.
func (rc *rawConn) expect(checks ...stacktest.Check) stacktest.Parsed {
	rc.pr.t.Helper()
	r := rc.pr.expect(append([]stacktest.Check{stacktest.Ports(rc.hport, rc.pport)}, checks...)...)
	end := r.Seq + uint32(len(r.Payload))
	if r.Flags&(fSYN|fFIN) != 0 {
		end++
	}
	if r.Flags&fSYN != 0 || int32(end-rc.ack) > 0 {
		rc.ack = end
	}
	if r.Options.HasTS {
		rc.tsEcr = r.Options.TSVal
	}
	return r
}

// expectSoon is expect, letting a delayed ACK's timer run when nothing
// came at once.
func (rc *rawConn) expectSoon(checks ...stacktest.Check) stacktest.Parsed {
	rc.pr.t.Helper()
	rc.pr.poll(2)
	if len(rc.pr.inbox) == 0 {
		rc.pr.advance(210 * time.Millisecond)
	}
	return rc.expect(checks...)
}

// synOpts are the options of a Linux SYN.
func synOpts(tsVal uint32) []byte {
	return stacktest.Options(stacktest.OptMSS(1460), stacktest.OptSACKPerm(), stacktest.OptTS(tsVal, 0), stacktest.OptWS(7))
}

// accept runs a passive open on the host's listener l from the peer's
// port pport, with the peer's SYN carrying o, and returns the connection.
func (pr *peer) accept(l *tcp.Sock, pport uint16, iss uint32, o []byte) *rawConn {
	pr.t.Helper()
	hport := l.LocalAddr().Port()
	rc := &rawConn{pr: pr, pport: pport, hport: hport, seq: iss, wnd: 65535}
	var so header.TCPOptions
	require.True(pr.t, header.ParseTCPOptions(o, &so))
	rc.ts = so.HasTS
	rc.tsVal = so.TSVal
	pr.send(stacktest.Segment{SrcPort: pport, DstPort: hport, Seq: iss, Flags: fSYN, Window: 65535, Options: o})
	rc.seq++
	sa := rc.expect(stacktest.Flags(fSYN|fACK), stacktest.Ack(iss+1))
	rc.iss = sa.Seq
	rc.send(fACK, nil)
	s, err := l.AcceptSock()
	require.NoError(pr.t, err)
	require.Equal(pr.t, sock.Established, s.State())
	rc.s = s
	return rc
}

// dial runs an active open from the host to the peer's port pport, the
// peer answering with a SYN-ACK carrying o, and returns the connection.
func (pr *peer) dial(pport uint16, iss uint32, o []byte) *rawConn {
	pr.t.Helper()
	s := dial(pr.t, pr.h, netip.AddrPortFrom(pr.addr, pport))
	pr.poll(1)
	syn := pr.expect(stacktest.Flags(fSYN))
	rc := &rawConn{pr: pr, pport: pport, hport: syn.SrcPort, seq: iss, wnd: 65535, s: s, iss: syn.Seq}
	var so header.TCPOptions
	require.True(pr.t, header.ParseTCPOptions(o, &so))
	rc.ts = so.HasTS && syn.Options.HasTS
	rc.tsVal = so.TSVal
	rc.tsEcr = syn.Options.TSVal
	rc.ack = syn.Seq + 1
	sa := stacktest.Segment{SrcPort: pport, DstPort: rc.hport, Seq: iss, Ack: rc.ack, Flags: fSYN | fACK, Window: 65535, Options: o}
	if so.HasTS {
		sa.Options = stacktest.Options(o) // the caller's TSecr is kept as given
	}
	pr.send(sa)
	rc.seq++
	rc.expect(stacktest.Flags(fACK), stacktest.Seq(syn.Seq+1), stacktest.Ack(iss+1))
	require.Equal(pr.t, sock.Established, s.State())
	return rc
}

// scratch is a burst vector for tests that pull frames off a ring.
var scratch = mbuf.NewBurst(32)

// burstOf returns the first n slots of the scratch burst.
func burstOf(n int) []*mbuf.Buf { return scratch[:n] }

// freeBurst frees what burstOf's slots hold and clears them.
func freeBurst() {
	for i, b := range scratch {
		if b != nil {
			b.Free()
			scratch[i] = nil
		}
	}
}
