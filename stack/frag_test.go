package stack_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dpstack/dpstack/internal/netns"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// fragmentFrames cuts an IP datagram of payload from src to dst into
// Ethernet frames of fragments carrying per data bytes each.
func fragmentFrames(dstMAC, srcMAC header.MAC, src, dst netip.Addr, proto uint8, id uint16, payload []byte, per int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += per {
		end := min(off+per, len(payload))
		p := stacktest.IPv4Packet(src, dst, proto, 64, payload[off:end])
		ip := header.IPv4(p)
		ip.SetID(id)
		ip.SetFragmentOffset(uint16(off))
		if end < len(payload) {
			ip.SetFlags(header.IPv4FlagMF)
		}
		ip.SetChecksumFull()
		out = append(out, stacktest.EthFrame(dstMAC, srcMAC, header.EtherTypeIPv4, p))
	}
	return out
}

// reassembleFrames puts the IPv4 fragments among frames together by
// offset and returns the datagram's data, or nil when some is missing.
func reassembleFrames(t *testing.T, frames [][]byte) []byte {
	t.Helper()
	var ips []header.IPv4
	for _, f := range frames {
		eth, ok := header.ParseEthernet(f)
		if !ok || eth.EtherType() != header.EtherTypeIPv4 {
			continue
		}
		ip, perr := header.ParseIPv4(eth.Payload())
		require.Equal(t, header.IPv4OK, perr)
		ips = append(ips, ip)
	}
	sort.Slice(ips, func(i, j int) bool { return ips[i].FragmentOffset() < ips[j].FragmentOffset() })
	var data []byte
	for i, ip := range ips {
		if int(ip.FragmentOffset()) != len(data) || ip.MoreFragments() != (i < len(ips)-1) {
			return nil
		}
		data = append(data, ip.Payload()...)
	}
	return data
}

// TestFragmentsOnTwoCores: the fragments of one echo request land on both
// cores' queues. They meet on the core that the hash of (src, dst, id,
// protocol) picks, which answers with the reply in fragments
// (ARCHITECTURE.md §3).
func TestFragmentsOnTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	req := icmpEcho(7, 1, 4000)
	for i := 8; i < len(req); i++ {
		req[i] = byte(i)
	}
	header.ICMPv4(req).SetChecksumFull()
	frags := fragmentFrames(lh.h.MAC(), loopPeerMAC, addrB.Addr(), addrA.Addr(), header.IPProtoICMP, 0x4321, req, 1480)
	for i, f := range frags {
		b := lh.h.Pool().Alloc()
		require.NotNil(t, b)
		copy(b.Put(len(f)), f)
		require.Equal(t, 1, lh.port.TxBurst(uint16(i%2), []*mbuf.Buf{b}))
	}
	var out [][]byte
	for range 3 {
		for q, s := range lh.h.Stacks() {
			s.Loop().Poll()
			out = append(out, lh.frames(q)...)
		}
	}
	reply := reassembleFrames(t, out)
	require.Len(t, reply, len(req), "the whole reply came back")
	assert.Equal(t, header.ICMPv4EchoReply, reply[0])
	assert.Equal(t, req[4:], reply[4:])
	assert.True(t, header.ICMPv4(reply).IsChecksumValid())

	var handoffs, oks, reqds uint64
	for _, s := range lh.h.Stacks() {
		st := s.IPv4().Stats()
		handoffs += st.ReasmHandoffs.Load()
		oks += st.ReasmOKs.Load()
		reqds += st.ReasmReqds.Load()
	}
	assert.Positive(t, handoffs, "fragments on the other core were handed over")
	assert.Equal(t, uint64(1), oks)
	assert.Equal(t, uint64(len(frags)), reqds, "each counted once, where reassembled")
}

// TestDanglingFragmentsTCP ("FragmentSmack"): 5,000 first fragments that
// never complete flood a host while a TCP connection exchanges data. The
// reassembly queues stay under their threshold, and the connection works
// during the flood and after it.
func TestDanglingFragmentsTCP(t *testing.T) {
	p := stacktest.NewPair(t, stacktest.PairConfig{Name: uniq("fs"), KnownNeighbours: true})
	sa, sb := p.A.Stacks()[0], p.B.Stacks()[0]
	ln := sb.TCP().NewSock()
	require.NoError(t, ln.Bind(netip.AddrPortFrom(addrB.Addr(), 5001)))
	require.NoError(t, ln.Listen(8))
	cl := sa.TCP().NewSock()
	require.ErrorIs(t, cl.Connect(netip.AddrPortFrom(addrB.Addr(), 5001)), syscall.EINPROGRESS)
	var sv sock.ProtoOps
	p.PumpUntil("accept", func() bool {
		s, err := ln.Accept()
		sv = s
		return err == nil
	})
	p.PumpUntil("established", func() bool { return cl.State() == sock.Established })

	exchange := func(msg string) {
		t.Helper()
		n, err := cl.SendMsg([]byte(msg), 0)
		require.NoError(t, err)
		require.Equal(t, len(msg), n)
		buf := make([]byte, 64)
		p.PumpUntil("data", func() bool {
			n, err = sv.RecvMsg(buf, 0)
			return err == nil
		})
		assert.Equal(t, msg, string(buf[:n]))
	}
	st := sb.IPv4().Stats()
	high := p.B.Pool().Size() / ipv4.ReasmPoolShare
	flood := func(from, to int) {
		t.Helper()
		burst := make([]*mbuf.Buf, 0, 32)
		for id := from; id < to; id++ {
			f := fragmentFrames(p.B.MAC(), p.A.MAC(), addrA.Addr(), addrB.Addr(), header.IPProtoICMP, uint16(id), make([]byte, 2000), 1480)[0]
			// From b's pool, as if received: b's reassembly keeps them.
			b := p.B.Pool().Alloc()
			require.NotNil(t, b)
			copy(b.Put(len(f)), f)
			burst = append(burst, b)
			if len(burst) == cap(burst) || id == to-1 {
				require.Equal(t, len(burst), p.Rings.A.TxBurst(0, burst))
				burst = burst[:0]
				p.Pump(2)
				require.LessOrEqual(t, int(st.ReasmMbufs.Load()), high)
			}
		}
	}
	flood(1, 2501)
	exchange("during the flood")
	flood(2501, 5001)
	p.PumpUntil("flood received", func() bool { return st.ReasmReqds.Load() == 5000 })
	exchange("after the flood")
	assert.Greater(t, sb.Device().Drops.Get(stat.DropIPFragEvicted), uint64(4000))
	assert.LessOrEqual(t, stacktest.InUse(p.B), high+2*256, "reassembly, and what the sockets and caches hold")
	cl.Close()
	sv.Close()
	ln.Close()
}

// TestKernelPeerFragments: the kernel pings with datagrams larger than the
// MTU, which it sends in fragments; dpstack reassembles them and answers
// in fragments, on one core and on two.
func TestKernelPeerFragments(t *testing.T) {
	for _, cores := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d cores", cores), func(t *testing.T) {
			h, ns, _ := kernelPeer(t, fmt.Sprintf("frag%d", cores), cores)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			target := tapAddr.Addr().String()
			out, err := ns.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "5", "-s", "4000", target)
			require.NoError(t, err, out)
			assert.Contains(t, out, "2 received")
			out, err = ns.Output(ctx, "ping", "-c", "1", "-W", "5", "-s", "65000", target)
			require.NoError(t, err, out)
			assert.Contains(t, out, "1 received")
			var oks, creates uint64
			for core := range h.Stacks() {
				require.NoError(t, h.Do(core, func(s *stack.Stack) {
					oks += s.IPv4().Stats().ReasmOKs.Load()
					creates += s.IPv4().Stats().FragCreates.Load()
				}))
			}
			assert.Equal(t, uint64(3), oks)
			assert.Equal(t, uint64(2*3+44), creates, "4,028 bytes in 3 fragments, 65,028 in 44")

			// The counters and the level reach the metrics endpoint.
			m := scrape(t, h)
			var total float64
			for core := range cores {
				labels := fmt.Sprintf(`{core="%d",port="net_tap_frag%d"}`, core, cores)
				total += m["dpstack_ip_reasm_oks_total"+labels]
				assert.Contains(t, m, "dpstack_ip_reasm_mbufs"+labels)
			}
			assert.Equal(t, 3.0, total)
		})
	}
}

// TestFragmentedTCPSegment: a TCP segment that a router fragmented reaches
// TCP whole (copied into one mbuf): here a segment of no connection,
// answered with a RST.
func TestFragmentedTCPSegment(t *testing.T) {
	lh := newLoopHost(t, 1)
	f := lh.frame(stacktest.Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2,
		Flags: header.TCPFlagACK, Window: 65535, Payload: []byte("a segment in three fragments")})
	seg := f[header.EthernetLen+header.IPv4MinLen:]
	for _, fr := range fragmentFrames(lh.h.MAC(), loopPeerMAC, addrB.Addr(), addrA.Addr(), header.IPProtoTCP, 99, seg, 16) {
		b := lh.h.Pool().Alloc()
		require.NotNil(t, b)
		copy(b.Put(len(fr)), fr)
		require.Equal(t, 1, lh.port.TxBurst(0, []*mbuf.Buf{b}))
	}
	lh.h.Stacks()[0].Loop().Poll()
	out := lh.sent(0)
	require.Len(t, out, 1)
	assert.Equal(t, header.TCPFlagRST, out[0].Flags())
	assert.Equal(t, uint64(1), lh.h.Stacks()[0].Device().Drops.Get(stat.DropTCPNoSocket))
	assert.Zero(t, lh.h.Stacks()[0].Device().Drops.Get(stat.DropTCPSplitHeader))
}

// rawSocketsIn opens, inside ns, a raw socket that sends IPv4 packets
// with the headers the test writes (IPPROTO_RAW implies IP_HDRINCL) and one
// that receives every ICMP message, with a receive timeout. A socket keeps
// the namespace it was made in.
func rawSocketsIn(t *testing.T, ns *netns.NS) (send, recv int) {
	t.Helper()
	require.NoError(t, ns.Do(func() error {
		var err error
		if send, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
			return err
		}
		recv, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		return err
	}))
	t.Cleanup(func() { unix.Close(send); unix.Close(recv) })
	setRcvTimeout(t, recv)
	return send, recv
}

// setRcvTimeout bounds each read of socket fd to 200 ms (SO_RCVTIMEO), so
// that a test's read loop looks at its deadline.
func setRcvTimeout(t *testing.T, fd int) {
	t.Helper()
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	require.NoError(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
}

// awaitICMP reads ICMP messages from recv until one satisfies match, for at
// most 10 s, and returns it (nil if none came).
func awaitICMP(t *testing.T, recv int, match func(icmp header.ICMPv4) bool) header.ICMPv4 {
	t.Helper()
	buf := make([]byte, 70000)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(recv, buf, 0)
		if err != nil {
			continue // the receive timeout
		}
		ip, perr := header.ParseIPv4(buf[:n])
		if perr != header.IPv4OK || ip.Src() != tapAddr.Addr() {
			continue
		}
		if icmp, ok := header.ParseICMPv4(ip.Payload()); ok && match(icmp) {
			return slices.Clone(icmp)
		}
	}
	return nil
}

// TestKernelPeerCraftedFragments: the kernel's namespace sends fragments
// that the test crafts (raw sockets): reversed with a duplicate, the echo
// request is answered; overlapping, the datagram is discarded; incomplete,
// the kernel gets a Time Exceeded (fragment reassembly) when the
// reassembly timeout (here 1 s) passes.
func TestKernelPeerCraftedFragments(t *testing.T) {
	h, ns, _ := kernelPeerWith(t, "cfrag", stack.Config{Cores: 1, ReasmTimeout: time.Second})
	send, recv := rawSocketsIn(t, ns)
	to := &unix.SockaddrInet4{Addr: tapAddr.Addr().As4()}
	echo := func(ident uint16) []byte {
		m := icmpEcho(ident, 1, 3000)
		for i := 8; i < len(m); i++ {
			m[i] = byte(i)
		}
		header.ICMPv4(m).SetChecksumFull()
		return m
	}
	sendFrags := func(frames [][]byte) {
		t.Helper()
		for _, f := range frames {
			require.NoError(t, unix.Sendto(send, f[header.EthernetLen:], 0, to))
		}
	}
	frags := func(ident uint16) [][]byte {
		return fragmentFrames(header.MAC{}, header.MAC{}, peerAddr.Addr(), tapAddr.Addr(), header.IPProtoICMP, ident, echo(ident), 1200)
	}
	stats := func() (st ipv4Counts) {
		require.NoError(t, h.Do(0, func(s *stack.Stack) {
			ip := s.IPv4().Stats()
			st = ipv4Counts{ip.ReasmOverlaps.Load(), ip.ReasmTimeout.Load()}
		}))
		return st
	}

	t.Run("reversed, duplicated", func(t *testing.T) {
		f := frags(0x7001)
		sendFrags([][]byte{f[2], f[1], f[2], f[0]})
		reply := awaitICMP(t, recv, func(m header.ICMPv4) bool {
			return m.Type() == header.ICMPv4EchoReply && m.Ident() == 0x7001
		})
		require.NotNil(t, reply, "the echo reply, reassembled by the kernel")
		assert.Equal(t, echo(0x7001)[8:], []byte(reply[8:]))
	})
	t.Run("overlapping", func(t *testing.T) {
		f := frags(0x7002)
		over := slices.Clone(f[1][header.EthernetLen:])
		header.IPv4(over).SetFragmentOffset(1192)
		sendFrags([][]byte{f[0], append(make([]byte, header.EthernetLen), over...), f[2]})
		require.Eventually(t, func() bool { return stats().overlaps == 1 }, 10*time.Second, 20*time.Millisecond)
	})
	t.Run("incomplete", func(t *testing.T) {
		f := frags(0x7003)
		sendFrags(f[:2])
		te := awaitICMP(t, recv, func(m header.ICMPv4) bool {
			if m.Type() != header.ICMPv4TimeExceeded || len(m) < header.ICMPv4MinLen+header.IPv4MinLen {
				return false
			}
			return header.IPv4(m[header.ICMPv4MinLen:]).ID() == 0x7003
		})
		require.NotNil(t, te, "Time Exceeded")
		assert.Equal(t, header.ICMPv4ReassemblyExceeded, te.Code())
		quote := header.IPv4(te[header.ICMPv4MinLen:])
		assert.True(t, quote.MoreFragments(), "quotes the first fragment")
		assert.Zero(t, quote.FragmentOffset())
		assert.GreaterOrEqual(t, stats().timeouts, uint64(1))
	})
}

// ipv4Counts are the reassembly counters a kernel test reads on the core.
type ipv4Counts struct{ overlaps, timeouts uint64 }

// TestFragmentedTCPTwoCores: a connection lives on core 0, and segments
// that a router fragmented arrive on both queues. Whichever core
// reassembles a segment, TCP there hands it on to core 0, where the data
// reaches the socket in order.
func TestFragmentedTCPTwoCores(t *testing.T) {
	lh := newLoopHost(t, 2)
	s0, s1 := lh.h.Stacks()[0], lh.h.Stacks()[1]
	sk, iss, lport := lh.established()

	var want []byte
	seq := uint32(101)
	// Until core 1 has reassembled one: the hash of the identification
	// decides, and each try has even odds.
	for id := uint16(1); id <= 16 && s1.IPv4().Stats().ReasmOKs.Load() == 0; id++ {
		data := []byte(fmt.Sprintf("segment %2d, cut in fragments of 16 bytes", id))
		f := lh.frame(stacktest.Segment{SrcPort: 80, DstPort: lport, Seq: seq, Ack: iss + 1,
			Flags: header.TCPFlagACK | header.TCPFlagPSH, Window: 65535, Payload: data})
		seg := f[header.EthernetLen+header.IPv4MinLen:]
		for i, fr := range fragmentFrames(lh.h.MAC(), loopPeerMAC, addrB.Addr(), addrA.Addr(), header.IPProtoTCP, id, seg, 16) {
			b := lh.h.Pool().Alloc()
			require.NotNil(t, b)
			copy(b.Put(len(fr)), fr)
			require.Equal(t, 1, lh.port.TxBurst(uint16(i%2), []*mbuf.Buf{b}))
		}
		for range 3 {
			s1.Loop().Poll()
			lh.frames(1)
			s0.Loop().Poll()
			lh.frames(0)
		}
		want = append(want, data...)
		seq += uint32(len(data))
	}
	require.Positive(t, s1.IPv4().Stats().ReasmOKs.Load(), "core 1 reassembled a segment")
	assert.Positive(t, lh.tcpStats(1).Handoffs.Load(), "and handed it to core 0")
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	for {
		n, err := sk.RecvMsg(buf, 0)
		if err != nil {
			break
		}
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, string(want), string(got))
	require.NoError(t, sk.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
	sk.Close()
}
