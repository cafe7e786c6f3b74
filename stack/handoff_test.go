package stack_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// loopHost is a host of two cores on a net_ring port created without
// rings of its own: the PMD makes 16 rings and uses ring i as both tx
// queue i and rx queue i, so what a core sends comes back to its own rx
// queue, and what the test transmits on queue i reaches core i. The test
// drives the loops itself.
type loopHost struct {
	t     testing.TB
	h     *stack.Host
	port  *dpdk.Port
	burst []*mbuf.Buf
}

var loopPeerMAC = header.MAC{0x02, 0, 0, 0, 0, 0x22}

func newLoopHost(t testing.TB, cores int) *loopHost {
	t.Helper()
	name := uniq("lh")
	port, err := dpdk.Probe("net_ring_" + name)
	require.NoError(t, err)
	h, err := stack.Open(stack.Config{Name: name, Port: port, Addr: addrA, Cores: cores, PoolSize: 8191})
	if err != nil {
		port.Close()
		t.Fatal(err)
	}
	lh := &loopHost{t: t, h: h, port: port, burst: mbuf.NewBurst(32)}
	for _, s := range h.Stacks() {
		s.Routes().Neighbours().Update(s.Device(), addrB.Addr(), loopPeerMAC, true)
	}
	t.Cleanup(func() {
		for q := range cores {
			lh.sent(q) // what is still in the rings goes back to the pool
		}
		require.NoError(t, h.Close(), "close (includes the mbuf leak check)")
	})
	return lh
}

// frame builds the frame of a TCP segment from the peer (addrB).
func (lh *loopHost) frame(s stacktest.Segment) []byte {
	return s.Frame(loopPeerMAC, lh.h.MAC(), addrB.Addr(), addrA.Addr())
}

// inject transmits a TCP segment from the peer (addrB) into queue q.
func (lh *loopHost) inject(q int, s stacktest.Segment) {
	lh.t.Helper()
	frame := lh.frame(s)
	b := lh.h.Pool().Alloc()
	require.NotNil(lh.t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(lh.t, 1, lh.port.TxBurst(uint16(q), []*mbuf.Buf{b}))
}

// frames takes what core q transmitted, each frame copied whole.
func (lh *loopHost) frames(q int) [][]byte {
	var out [][]byte
	for {
		n := lh.port.RxBurst(uint16(q), lh.burst)
		for _, b := range lh.burst[:n] {
			f := make([]byte, b.Len())
			b.ReadAt(f, 0)
			b.Free()
			out = append(out, f)
		}
		if n < len(lh.burst) {
			return out
		}
	}
}

// sentIPv4 takes what core q transmitted (its ring) and returns the IPv4
// packets of protocol proto, copied.
func (lh *loopHost) sentIPv4(q int, proto uint8) []header.IPv4 {
	var out []header.IPv4
	for _, f := range lh.frames(q) {
		eth, ok := header.ParseEthernet(f)
		if !ok || eth.EtherType() != header.EtherTypeIPv4 {
			continue
		}
		if ip, perr := header.ParseIPv4(eth.Payload()); perr == header.IPv4OK && ip.Protocol() == proto {
			out = append(out, ip)
		}
	}
	return out
}

// sent takes what core q transmitted and returns the TCP headers, copied.
func (lh *loopHost) sent(q int) []header.TCP {
	var out []header.TCP
	for _, ip := range lh.sentIPv4(q, header.IPProtoTCP) {
		th, ok := header.ParseTCP(ip.Payload())
		require.True(lh.t, ok)
		out = append(out, th)
	}
	return out
}

func (lh *loopHost) tcpStats(core int) *tcp.Stats { return lh.h.Stacks()[core].TCP().Stats() }

// TestHandoffSynAck: core 0 opens a connection and the SYN-ACK arrives on
// core 1's queue. Core 1 finds the connection in the flow directory and
// hands the segment to core 0's inbox instead of answering with a RST;
// core 0 runs it through its IPv4 input and the connection completes
// there. Data that arrives on core 1 later is handed over too, and once the
// connection is gone the directory forgets it.
func TestHandoffSynAck(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	remote := netip.AddrPortFrom(addrB.Addr(), 80)

	sk := s0.TCP().NewSock()
	require.ErrorIs(t, sk.Connect(remote), syscall.EINPROGRESS)
	s0.Loop().Flush()
	out := lh.sent(0)
	require.Len(t, out, 1)
	syn := out[0]
	require.Equal(t, header.TCPFlagSYN, syn.Flags())
	local := sk.Common.Local
	require.Equal(t, syn.SrcPort(), local.Port())
	owner, ok := lh.h.Flows().Owner(local, remote)
	require.True(t, ok, "the connection is in the flow directory")
	assert.Equal(t, 0, owner)

	// The SYN-ACK lands on core 1.
	const irs = 5000
	lh.inject(1, stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: irs, Ack: syn.SeqNum() + 1,
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535})
	s1.Loop().Poll()
	assert.Empty(t, lh.sent(1), "core 1 sent nothing: no RST")
	assert.Equal(t, uint64(1), lh.tcpStats(1).Handoffs.Load())
	assert.Zero(t, lh.tcpStats(1).OutRsts.Load())
	assert.Equal(t, sock.SynSent, sk.State(), "core 0 has not run yet")

	s0.Loop().Poll()
	assert.Equal(t, uint64(1), s0.Loop().Stats().HandoffsIn.Load())
	require.Equal(t, sock.Established, sk.State())
	out = lh.sent(0)
	require.Len(t, out, 1, "core 0 acknowledges the SYN-ACK")
	assert.Equal(t, header.TCPFlagACK, out[0].Flags())
	assert.Equal(t, uint32(irs+1), out[0].AckNum())
	assert.Equal(t, uint64(1), lh.tcpStats(0).InSegs.Load()+lh.tcpStats(1).InSegs.Load(), "counted once")

	// Data on core 1 reaches the socket on core 0.
	lh.inject(1, stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: irs + 1, Ack: syn.SeqNum() + 1,
		Flags: header.TCPFlagACK | header.TCPFlagPSH, Window: 65535, Payload: []byte("hello")})
	s1.Loop().Poll()
	s0.Loop().Poll()
	buf := make([]byte, 64)
	n, err := sk.RecvMsg(buf, 0)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	assert.Equal(t, uint64(2), lh.tcpStats(1).Handoffs.Load())

	// An abortive close sends a RST and frees the 4-tuple everywhere.
	require.NoError(t, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	sk.Close()
	s0.Loop().Flush()
	_, ok = lh.h.Flows().Owner(local, remote)
	assert.False(t, ok, "gone from the flow directory")
	assert.Zero(t, lh.h.Flows().Len())
	for i := range 2 {
		assert.Zero(t, lh.h.Stacks()[i].Device().Drops.Get(stat.DropTCPNoSocket), "core %d", i)
	}
}

// TestHandoffNoOwner: a segment of no connection on any core is answered
// by the core that got it (a RST), not handed anywhere.
func TestHandoffNoOwner(t *testing.T) {
	lh := newLoopHost(t, 2)
	s1 := lh.h.Stacks()[1]
	lh.inject(1, stacktest.Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2,
		Flags: header.TCPFlagACK, Window: 65535})
	s1.Loop().Poll()
	out := lh.sent(1)
	require.Len(t, out, 1)
	assert.Equal(t, header.TCPFlagRST, out[0].Flags())
	assert.Zero(t, lh.tcpStats(1).Handoffs.Load())
	assert.Equal(t, uint64(1), s1.Device().Drops.Get(stat.DropTCPNoSocket))
}

// TestHandoffBeforeListener: every core has a replica of a listener, so a
// core that gets the handshake's last ACK for another core's request must
// hand it over rather than let its own listener answer it with a RST.
func TestHandoffBeforeListener(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	var lns []*tcp.Sock
	for _, s := range lh.h.Stacks() {
		l := s.TCP().NewSock()
		require.NoError(t, l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 7000)))
		require.NoError(t, l.Listen(8))
		lns = append(lns, l)
	}
	// The SYN reaches core 0, which answers it.
	lh.inject(0, stacktest.Segment{SrcPort: 3333, DstPort: 7000, Seq: 100, Flags: header.TCPFlagSYN, Window: 65535})
	s0.Loop().Poll()
	out := lh.sent(0)
	require.Len(t, out, 1)
	require.Equal(t, header.TCPFlagSYN|header.TCPFlagACK, out[0].Flags())
	iss := out[0].SeqNum()
	// The ACK reaches core 1.
	lh.inject(1, stacktest.Segment{SrcPort: 3333, DstPort: 7000, Seq: 101, Ack: iss + 1, Flags: header.TCPFlagACK, Window: 65535})
	s1.Loop().Poll()
	assert.Empty(t, lh.sent(1), "no RST from core 1's listener")
	s0.Loop().Poll()
	c, err := lns[0].Accept()
	require.NoError(t, err, "the connection completed on core 0")
	assert.Equal(t, sock.Established, c.Sk().State)
	_, err = lns[1].Accept()
	assert.ErrorIs(t, err, syscall.EAGAIN)
	owner, ok := lh.h.Flows().Owner(netip.AddrPortFrom(addrA.Addr(), 7000), netip.AddrPortFrom(addrB.Addr(), 3333))
	assert.True(t, ok)
	assert.Equal(t, 0, owner)
	require.NoError(t, c.Sk().SetOptionLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	c.Close()
	for _, l := range lns {
		l.Close()
	}
	s0.Loop().Flush()
	assert.Zero(t, lh.h.Flows().Len())
}

// TestHandoffInboxFull: when the owner's inbox is full the segment is
// dropped and counted, not leaked, and the core that got it does not
// answer it.
func TestHandoffInboxFull(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	sk := s0.TCP().NewSock()
	require.ErrorIs(t, sk.Connect(netip.AddrPortFrom(addrB.Addr(), 80)), syscall.EINPROGRESS)
	s0.Loop().Flush()
	syn := lh.sent(0)[0]
	local := sk.Common.Local
	// Fill core 0's inbox with packets of its own.
	filled := 0
	for {
		b := lh.h.Pool().Alloc()
		require.NotNil(t, b)
		b.Put(64)
		if !s0.Loop().Handoff(b) {
			b.Free()
			break
		}
		filled++
	}
	require.Positive(t, filled)
	lh.inject(1, stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: 1, Ack: syn.SeqNum() + 1,
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535})
	s1.Loop().Poll()
	assert.Empty(t, lh.sent(1))
	assert.Equal(t, uint64(1), s1.Device().Drops.Get(stat.DropHandoffFull))
	assert.Zero(t, lh.tcpStats(1).Handoffs.Load())
	require.NoError(t, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	sk.Close()
	// The junk in the inbox is freed by Close (the leak check).
}

// TestHandoffTimeWait: a connection keeps its directory entry from
// ESTABLISHED through TIME-WAIT, so the peer's FIN and its retransmission
// that land on core 1 reach core 0's TIME-WAIT socket; when TIME-WAIT ends
// the entry goes, and the 4-tuple is nobody's.
func TestHandoffTimeWait(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	s0.TCP().SetTimeWait(time.Second)
	remote := netip.AddrPortFrom(addrB.Addr(), 80)
	sk := s0.TCP().NewSock()
	require.ErrorIs(t, sk.Connect(remote), syscall.EINPROGRESS)
	s0.Loop().Flush()
	iss := lh.sent(0)[0].SeqNum()
	local := sk.Common.Local
	const irs = 9000
	lh.inject(0, stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: irs, Ack: iss + 1,
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535})
	s0.Loop().Poll()
	require.Equal(t, sock.Established, sk.State())
	lh.sent(0)

	sk.Close() // FIN-WAIT-1
	s0.Loop().Flush()
	out := lh.sent(0)
	require.Len(t, out, 1)
	require.Equal(t, header.TCPFlagFIN|header.TCPFlagACK, out[0].Flags())

	// The peer's ACK of our FIN, with its own FIN, lands on core 1.
	finAck := stacktest.Segment{SrcPort: 80, DstPort: local.Port(), Seq: irs + 1, Ack: iss + 2,
		Flags: header.TCPFlagFIN | header.TCPFlagACK, Window: 65535}
	lh.inject(1, finAck)
	s1.Loop().Poll()
	s0.Loop().Poll()
	st, ok := s0.TCP().StateOf(local, remote)
	require.True(t, ok)
	require.Equal(t, sock.TimeWait, st)
	out = lh.sent(0)
	require.Len(t, out, 1)
	assert.Equal(t, uint32(irs+2), out[0].AckNum(), "core 0 acknowledges the FIN")
	owner, ok := lh.h.Flows().Owner(local, remote)
	require.True(t, ok, "TIME-WAIT keeps the entry")
	assert.Equal(t, 0, owner)

	// The FIN again, on core 1: TIME-WAIT on core 0 answers it.
	lh.inject(1, finAck)
	s1.Loop().Poll()
	s0.Loop().Poll()
	assert.Empty(t, lh.sent(1), "no RST from core 1")
	out = lh.sent(0)
	require.Len(t, out, 1)
	assert.Equal(t, header.TCPFlagACK, out[0].Flags())
	assert.Equal(t, uint64(2), lh.tcpStats(1).Handoffs.Load())

	// TIME-WAIT ends: the 4-tuple is free on every core.
	s0.Loop().Wheel().Advance(ktime.Now().Add(3*time.Second), 1<<16)
	_, ok = s0.TCP().StateOf(local, remote)
	assert.False(t, ok)
	_, ok = lh.h.Flows().Owner(local, remote)
	assert.False(t, ok)
	assert.Zero(t, lh.h.Flows().Len())
}

// A host of one core has no flow directory; one of several has, and takes
// its cores in turn for active opens. net_ring has no RSS to predict.
func TestHostFlowsAndNextCore(t *testing.T) {
	one := newLoopHost(t, 1)
	assert.Nil(t, one.h.Flows())
	assert.Nil(t, one.h.Steering())
	assert.Equal(t, []int{0, 0}, []int{one.h.NextCore(), one.h.NextCore()})

	three := newLoopHost(t, 3)
	assert.NotNil(t, three.h.Flows())
	assert.Nil(t, three.h.Steering(), "net_ring: no RSS")
	var got []int
	for range 7 {
		got = append(got, three.h.NextCore())
	}
	assert.Equal(t, []int{0, 1, 2, 0, 1, 2, 0}, got)
}

// established opens a connection from core 0 to addrB:80 and completes
// its handshake with a SYN-ACK (sequence 100) that queue 0 brings; it
// returns the socket, its ISS and its local port.
func (lh *loopHost) established() (*tcp.Sock, uint32, uint16) {
	t, s0 := lh.t, lh.h.Stacks()[0]
	sk := s0.TCP().NewSock()
	require.ErrorIs(t, sk.Connect(netip.AddrPortFrom(addrB.Addr(), 80)), syscall.EINPROGRESS)
	s0.Loop().Flush()
	iss := lh.sent(0)[0].SeqNum()
	lport := sk.Common.Local.Port()
	lh.inject(0, stacktest.Segment{SrcPort: 80, DstPort: lport, Seq: 100, Ack: iss + 1,
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535})
	s0.Loop().Poll()
	require.Equal(t, sock.Established, sk.State())
	lh.sent(0)
	return sk, iss, lport
}

// ackStream opens a connection on core 0 and returns it with a function
// that sends a bare ACK of the peer for it into queue q and runs a turn of
// core 1, then of core 0.
func (lh *loopHost) ackStream() (*tcp.Sock, func(q uint16)) {
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	sk, iss, lport := lh.established()
	frame := lh.frame(stacktest.Segment{SrcPort: 80, DstPort: lport, Seq: 101, Ack: iss + 1,
		Flags: header.TCPFlagACK, Window: 65535})
	pool := lh.h.Pool()
	one := mbuf.NewBurst(1)
	return sk, func(q uint16) {
		m := pool.Alloc()
		copy(m.Put(len(frame)), frame)
		one[0] = m
		lh.port.TxBurst(q, one)
		s1.Loop().Poll()
		s0.Loop().Poll()
	}
}

// The handoff path, from core 1's rx burst through the flow directory and
// core 0's inbox to its socket, allocates nothing.
func TestHandoffNoAllocs(t *testing.T) {
	lh := newLoopHost(t, 2)
	sk, ack := lh.ackStream()
	ack(1)
	assert.Zero(t, testing.AllocsPerRun(200, func() { ack(1) }))
	assert.Equal(t, uint64(202), lh.tcpStats(1).Handoffs.Load())
	assert.Empty(t, lh.sent(1))
	require.NoError(t, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	sk.Close()
}

// BenchmarkHandoff measures a bare ACK for core 0's connection arriving on
// core 0's own queue, and on core 1's, which hands it over: the
// difference is the cost of a handoff (directory lookup, inbox, IPv4 input
// again). Both turns run in both cases.
func BenchmarkHandoff(b *testing.B) {
	for _, tc := range []struct {
		name  string
		queue uint16
	}{{"own core", 0}, {"other core", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			lh := newLoopHost(b, 2)
			sk, ack := lh.ackStream()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ack(tc.queue)
			}
			b.StopTimer()
			if tc.queue == 1 && lh.tcpStats(1).Handoffs.Load() != uint64(b.N) {
				b.Fatalf("%d handoffs for %d segments", lh.tcpStats(1).Handoffs.Load(), b.N)
			}
			require.NoError(b, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
			sk.Close()
		})
	}
}

// TestHandoffChain: a data segment that arrives on core 1 as a chain of
// mbufs (a scattered jumbo frame) is handed to core 0, which owns its
// connection, goes through core 0's IPv4 input whole, and is read there
// byte-exact.
func TestHandoffChain(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	sk, iss, lport := lh.established()
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	frame := lh.frame(stacktest.Segment{SrcPort: 80, DstPort: lport, Seq: 101, Ack: iss + 1,
		Flags: header.TCPFlagACK | header.TCPFlagPSH, Window: 65535, Payload: data})
	var head, last *mbuf.Buf
	from := 0
	for _, to := range []int{1001, 1002, 2000, len(frame)} {
		m := lh.h.Pool().Alloc()
		require.NotNil(t, m)
		copy(m.Put(to-from), frame[from:to])
		from = to
		if head == nil {
			head, last = m, m
			continue
		}
		last = head.AppendSeg(last, m)
		require.NotNil(t, last)
	}
	require.Equal(t, len(frame), head.Len())
	require.Equal(t, 1, lh.port.TxBurst(1, []*mbuf.Buf{head}))
	before := lh.tcpStats(1).Handoffs.Load()
	s1.Loop().Poll()
	s0.Loop().Poll()
	assert.Equal(t, before+1, lh.tcpStats(1).Handoffs.Load(), "handed to core 0")
	got := make([]byte, len(data)+1)
	n, err := sk.RecvMsg(got, 0)
	require.NoError(t, err)
	assert.Equal(t, data, got[:n])
}
