package stack_test

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/dpdk/dpdktest"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// TestParseExceptionPorts: single ports and inclusive ranges, "auto",
// and lists that are not ports fail with EINVAL.
func TestParseExceptionPorts(t *testing.T) {
	p, err := stack.ParseExceptionPorts("22, 9100-9200,65535")
	require.NoError(t, err)
	for port, want := range map[uint16]bool{22: true, 21: false, 23: false, 9099: false, 9100: true, 9150: true,
		9200: true, 9201: false, 65535: true, 0: false} {
		assert.Equal(t, want, p.Port(port), "port %d", port)
	}
	assert.False(t, p.Auto)
	p, err = stack.ParseExceptionPorts("auto")
	require.NoError(t, err)
	assert.True(t, p.Auto)
	assert.False(t, p.Port(22))
	p, err = stack.ParseExceptionPorts("")
	require.NoError(t, err)
	assert.False(t, p.Auto)
	for _, bad := range []string{"0", "70000", "5-3", "ssh", "22,", "-5", "1-", "22;23"} {
		_, err := stack.ParseExceptionPorts(bad)
		assert.ErrorIs(t, err, syscall.EINVAL, bad)
	}
}

// kniRig is a host with an exception port, both ports ring pairs whose
// other ends the test holds: the wire, where a peer sends and receives,
// and the kernel's side of the exception port.
type kniRig struct {
	t          testing.TB
	h          *stack.Host
	wire, kern *dpdk.Port
	pool       *mbuf.Pool // the peer's and the kernel's frames
	burst      []*mbuf.Buf
}

var kniPeerMAC = header.MAC{0x02, 0, 0, 0, 0x16, 1}

// newKNIRig opens the rig with policy. When the test ends, what the ends
// hold is freed, the host closes (checking its pool) and so does the
// rig's pool, which must be back to none in use.
func newKNIRig(t testing.TB, policy *stack.ExceptionPolicy) *kniRig {
	t.Helper()
	link, err := dpdk.NewRingPair(uniq("kw"), 1024)
	require.NoError(t, err)
	kern, err := dpdk.NewRingPair(uniq("kk"), 64)
	require.NoError(t, err)
	r := &kniRig{t: t, wire: link.B, kern: kern.B, pool: dpdktest.Pool(t, 1023), burst: mbuf.NewBurst(32)}
	for _, p := range []*dpdk.Port{r.wire, r.kern} {
		_, err := p.Configure(dpdk.PortConfig{RxQueues: 1, TxQueues: 1, Pool: r.pool})
		require.NoError(t, err)
		require.NoError(t, p.Start())
	}
	r.h, err = stack.Open(stack.Config{Name: uniq("kh"), Port: link.A, Addr: addrA, PoolSize: 4095,
		Exception: &stack.Exception{Port: kern.A, Policy: policy}})
	require.NoError(t, err)
	s := r.h.Stacks()[0]
	s.Routes().Neighbours().Update(s.Device(), addrB.Addr(), kniPeerMAC, true)
	t.Cleanup(func() {
		r.poll(2)
		r.collect(r.wire)
		r.collect(r.kern)
		s.TCP().Close()
		s.UDP().Close()
		require.NoError(t, r.h.Close())
		for _, p := range []*dpdk.Port{r.wire, r.kern} {
			require.NoError(t, p.Stop())
		}
		require.NoError(t, link.Close())
		require.NoError(t, kern.Close())
		assert.Zero(t, r.pool.InUse(), "the rig's frames all came back")
	})
	return r
}

// inject sends frame from the peer into the host's port and returns its
// mbuf.
func (r *kniRig) inject(frame []byte) *mbuf.Buf {
	return r.send(r.wire, frame)
}

// send transmits frame on end p.
func (r *kniRig) send(p *dpdk.Port, frame []byte) *mbuf.Buf {
	r.t.Helper()
	b := r.pool.Alloc()
	require.NotNil(r.t, b)
	copy(b.Put(len(frame)), frame)
	require.Equal(r.t, 1, p.TxBurst(0, []*mbuf.Buf{b}))
	return b
}

// poll runs n turns of the host's loop.
func (r *kniRig) poll(n int) {
	for range n {
		r.h.Stacks()[0].Loop().Poll()
	}
}

// collect takes what reached end p, copies out each frame's bytes and
// frees the mbufs; it returns the frames and the mbufs as they were.
func (r *kniRig) collect(p *dpdk.Port) (frames [][]byte, bufs []*mbuf.Buf) {
	for {
		n := p.RxBurst(0, r.burst)
		for _, b := range r.burst[:n] {
			frames = append(frames, append([]byte(nil), b.Bytes()...))
			bufs = append(bufs, b)
		}
		mbuf.FreeBulk(r.burst[:n])
		if n < len(r.burst) {
			return frames, bufs
		}
	}
}

func (r *kniRig) stats() map[string]uint64 {
	m := map[string]uint64{}
	r.h.Stacks()[0].VisitCounters(func(name string, v uint64) { m[name] = v })
	return m
}

// ipFrame is an IPv4 packet of proto from the peer to the host, in a
// frame to the host's MAC.
func (r *kniRig) ipFrame(proto uint8, payload []byte) []byte {
	return stacktest.EthFrame(r.h.MAC(), kniPeerMAC, header.EtherTypeIPv4,
		stacktest.IPv4Packet(addrB.Addr(), addrA.Addr(), proto, 64, payload))
}

// tcpSeg is a TCP segment with flags from the peer's port 40000 to
// dport, checksummed.
func tcpSeg(dport uint16, flags uint8) []byte {
	return stacktest.Segment{SrcPort: 40000, DstPort: dport, Seq: 1000, Flags: flags, Window: 65535}.Encode(addrB.Addr(), addrA.Addr())
}

// udpDgram is a UDP datagram from the peer's port 40000 to dport, no
// checksum.
func udpDgram(dport uint16, data string) []byte {
	d := make([]byte, header.UDPLen+len(data))
	header.UDP(d).Encode(40000, dport, uint16(len(d)))
	copy(d[header.UDPLen:], data)
	return d
}

// arpRequest is the peer asking who has the host's address.
func (r *kniRig) arpRequest() []byte {
	a := make([]byte, header.ARPLen)
	header.ARP(a).Encode(header.ARPRequest, kniPeerMAC, addrB.Addr(), header.MAC{}, addrA.Addr())
	return stacktest.EthFrame(header.BroadcastMAC, kniPeerMAC, header.EtherTypeARP, a)
}

// TestExceptionPolicy: each frame goes where the policy says, the kernel's
// as the very mbuf that came off the port (zero copy), the stack's
// answered as ever; the counters say how many went to the kernel.
func TestExceptionPolicy(t *testing.T) {
	ports, err := stack.ParseExceptionPorts("22,9100-9200")
	require.NoError(t, err)
	auto, err := stack.ParseExceptionPorts("auto")
	require.NoError(t, err)
	protos, err := stack.ParseExceptionPorts("")
	require.NoError(t, err)
	protos.ARP, protos.ICMP = true, true

	frag := stacktest.IPv4Packet(addrB.Addr(), addrA.Addr(), header.IPProtoTCP, 64, tcpSeg(22, header.TCPFlagSYN))
	header.IPv4(frag).SetFlags(header.IPv4FlagMF)
	header.IPv4(frag).SetChecksumFull()
	const (
		stackOnly = iota // the stack answers on the wire, the kernel gets nothing
		kernel           // the kernel gets the frame, the stack sends nothing
		both             // the kernel gets the frame and the stack answers
		neither          // the stack takes it silently
	)
	type tc struct {
		name   string
		policy *stack.ExceptionPolicy
		frame  func(r *kniRig) []byte
		where  int
		listen uint16 // a TCP listener and a UDP socket on this port, when not 0
		count  string // the counter that moves by one, besides kni_to_kernel
	}
	cases := []tc{
		{"tcp to a kernel port", ports, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN)) }, kernel, 0, "tcp_to_kernel"},
		{"tcp to a kernel port the stack listens on", ports, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN)) }, kernel, 22, "tcp_to_kernel"},
		{"udp to a kernel range", ports, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoUDP, udpDgram(9150, "x")) }, kernel, 0, "udp_to_kernel"},
		{"tcp to another port: RST", ports, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(80, header.TCPFlagSYN)) }, stackOnly, 0, ""},
		{"udp to another port: unreachable", ports, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoUDP, udpDgram(9201, "x")) }, stackOnly, 0, ""},
		{"fragment to a kernel port stays", ports, func(r *kniRig) []byte {
			return stacktest.EthFrame(r.h.MAC(), kniPeerMAC, header.EtherTypeIPv4, frag)
		}, neither, 0, ""},
		{"auto: tcp without a listener", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(80, header.TCPFlagSYN)) }, kernel, 0, "tcp_to_kernel"},
		{"auto: tcp ACK without a connection", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(2222, header.TCPFlagACK)) }, kernel, 0, "tcp_to_kernel"},
		{"auto: tcp to a listener", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoTCP, tcpSeg(80, header.TCPFlagSYN)) }, stackOnly, 80, ""},
		{"auto: udp without a socket", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoUDP, udpDgram(53, "x")) }, kernel, 0, "udp_to_kernel"},
		{"auto: udp to a socket", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoUDP, udpDgram(53, "x")) }, neither, 53, ""},
		{"auto: udp broadcast stays", auto, func(r *kniRig) []byte {
			return stacktest.EthFrame(header.BroadcastMAC, kniPeerMAC, header.EtherTypeIPv4,
				stacktest.IPv4Packet(addrB.Addr(), netip.MustParseAddr("198.18.1.255"), header.IPProtoUDP, 64, udpDgram(53, "x")))
		}, neither, 0, ""},
		{"auto: ping stays", auto, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoICMP, icmpEcho(1, 1, 8)) }, stackOnly, 0, ""},
		{"auto: arp stays", auto, func(r *kniRig) []byte { return r.arpRequest() }, stackOnly, 0, ""},
		{"gre goes", ports, func(r *kniRig) []byte { return r.ipFrame(47, make([]byte, 8)) }, kernel, 0, ""},
		{"ipv6 goes", ports, func(r *kniRig) []byte {
			return stacktest.EthFrame(header.MAC{0x33, 0x33, 0, 0, 0, 1}, kniPeerMAC, header.EtherTypeIPv6, make([]byte, 40))
		}, kernel, 0, ""},
		{"--kni-icmp: ping goes", protos, func(r *kniRig) []byte { return r.ipFrame(header.IPProtoICMP, icmpEcho(1, 1, 8)) }, kernel, 0, ""},
		{"--kni-arp: arp to both", protos, func(r *kniRig) []byte { return r.arpRequest() }, both, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newKNIRig(t, c.policy)
			s := r.h.Stacks()[0]
			if c.listen != 0 {
				l := s.TCP().NewSock()
				require.NoError(t, l.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), c.listen)))
				require.NoError(t, l.Listen(8))
				u := s.UDP().NewSock()
				require.NoError(t, u.Bind(netip.AddrPortFrom(netip.IPv4Unspecified(), c.listen)))
				t.Cleanup(func() { l.Close(); u.Close() })
			}
			r.poll(1)
			r.collect(r.wire) // the gratuitous ARP, if any
			before := r.stats()
			frame := c.frame(r)
			b := r.inject(frame)
			r.poll(2)
			toKernel, bufs := r.collect(r.kern)
			onWire, _ := r.collect(r.wire)
			after := r.stats()
			switch c.where {
			case kernel, both:
				require.Len(t, toKernel, 1, "to the kernel")
				assert.Equal(t, frame, toKernel[0], "the frame as it came")
				assert.Same(t, b, bufs[0], "the very mbuf: zero copy")
				assert.Equal(t, before["kni_to_kernel"]+1, after["kni_to_kernel"])
				if c.count != "" {
					assert.Equal(t, before[c.count]+1, after[c.count], c.count)
				}
			default:
				assert.Empty(t, toKernel, "to the kernel")
				assert.Equal(t, before["kni_to_kernel"], after["kni_to_kernel"])
			}
			switch c.where {
			case stackOnly, both:
				assert.Len(t, onWire, 1, "the stack's answer")
			default:
				assert.Empty(t, onWire, "the stack's answer")
			}
			assert.Equal(t, before["tcp_to_kernel"]+before["udp_to_kernel"]+boolInt(c.count != ""),
				after["tcp_to_kernel"]+after["udp_to_kernel"])
		})
	}
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// TestExceptionFromKernel: what the kernel sends on the exception port
// leaves by the host's port unchanged, the same mbuf; counted.
func TestExceptionFromKernel(t *testing.T) {
	r := newKNIRig(t, &stack.ExceptionPolicy{})
	r.poll(1)
	r.collect(r.wire)
	frame := stacktest.Segment{SrcPort: 22, DstPort: 40000, Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: 65535}.
		Frame(r.h.MAC(), kniPeerMAC, addrA.Addr(), addrB.Addr())
	b := r.send(r.kern, frame)
	r.poll(2)
	out, bufs := r.collect(r.wire)
	require.Len(t, out, 1)
	assert.Equal(t, frame, out[0])
	assert.Same(t, b, bufs[0], "the very mbuf: zero copy")
	assert.Equal(t, uint64(1), r.stats()["kni_from_kernel"])
}

// TestExceptionQueueFull: a kernel that does not read fills the exception
// queue; what does not fit is dropped, counted as kni_tx_full, and every
// mbuf comes back.
func TestExceptionQueueFull(t *testing.T) {
	ports, err := stack.ParseExceptionPorts("22")
	require.NoError(t, err)
	r := newKNIRig(t, ports)
	const sent = 200
	for i := range sent {
		r.inject(r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN)))
		if i%32 == 31 {
			r.poll(1)
		}
	}
	r.poll(2)
	st := r.stats()
	drops := r.h.Stacks()[0].Device().Drops.Get(stat.DropKNITxFull)
	assert.Positive(t, drops, "the ring of 63 and the batch of 64 cannot hold %d", sent)
	assert.Equal(t, uint64(sent), st["kni_to_kernel"]+drops)
	got, _ := r.collect(r.kern)
	assert.Less(t, len(got), sent)
}

// BenchmarkExceptionPath measures the exception path both ways: bursts of
// 32 TCP segments for the kernel go from the wire through the host's rx
// burst to the exception port's kernel end, which sends them back; the
// host passes them out of its port, and the wire sends them in again. No
// mbuf is allocated or copied: the same 32 go round. ns/pkt is per
// crossing of the host (two per round). "ports": to a listed port, taken
// before the stack looks; "auto": to a port without a socket, taken from
// TCP's demultiplexing (IPv4 and TCP checks, software checksum, the
// lookups) instead of a RST.
func BenchmarkExceptionPath(b *testing.B) {
	ports, err := stack.ParseExceptionPorts("22")
	require.NoError(b, err)
	auto, err := stack.ParseExceptionPorts("auto")
	require.NoError(b, err)
	b.Run("ports", func(b *testing.B) { benchExceptionPath(b, ports) })
	b.Run("auto", func(b *testing.B) { benchExceptionPath(b, auto) })
}

func benchExceptionPath(b *testing.B, policy *stack.ExceptionPolicy) {
	r := newKNIRig(b, policy)
	frame := r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagACK))
	burst := mbuf.NewBurst(32)
	require.True(b, r.pool.AllocBulk(burst))
	for _, m := range burst {
		copy(m.Put(len(frame)), frame)
	}
	loop := r.h.Stacks()[0].Loop()
	// pass sends the burst into end in, runs a turn, and takes it back
	// from end out.
	pass := func(in, out *dpdk.Port) {
		if n := in.TxBurst(0, burst); n != len(burst) {
			b.Fatalf("%d of %d sent", n, len(burst))
		}
		loop.Poll()
		if n := out.RxBurst(0, burst); n != len(burst) {
			b.Fatalf("%d of %d came through", n, len(burst))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		pass(r.wire, r.kern)
		pass(r.kern, r.wire)
		sent += 2 * len(burst)
	}
	b.StopTimer()
	mbuf.FreeBulk(burst)
	st := r.stats()
	if st["kni_to_kernel"] != uint64(sent/2) || st["tcp_to_kernel"] != uint64(sent/2) || st["kni_from_kernel"] != uint64(sent/2) {
		b.Fatalf("%d (%d TCP) to and %d from the kernel for %d each", st["kni_to_kernel"], st["tcp_to_kernel"], st["kni_from_kernel"], sent/2)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/pkt")
}

// countTap counts what a loop's capture tap is shown, by direction.
type countTap struct{ in, out int }

func (c *countTap) Packets(pkts []*mbuf.Buf, _ int64, outbound bool) (int, int) {
	if outbound {
		c.out += len(pkts)
	} else {
		c.in += len(pkts)
	}
	return len(pkts), 0
}

// TestExceptionCapture: packet capture sees a frame of the exception path
// once, where it crosses the host's port, and never on the exception
// port: one received for the kernel, one sent for it.
func TestExceptionCapture(t *testing.T) {
	ports, err := stack.ParseExceptionPorts("22")
	require.NoError(t, err)
	r := newKNIRig(t, ports)
	tap := &countTap{}
	loop := r.h.Stacks()[0].Loop()
	loop.SetTap(tap)
	defer loop.SetTap(nil)
	r.inject(r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN)))
	r.poll(2)
	got, _ := r.collect(r.kern)
	require.Len(t, got, 1)
	assert.Equal(t, countTap{in: 1}, *tap, "to the kernel: seen as received")
	r.send(r.kern, stacktest.Segment{SrcPort: 22, DstPort: 40000, Flags: header.TCPFlagRST}.
		Frame(r.h.MAC(), kniPeerMAC, addrA.Addr(), addrB.Addr()))
	r.poll(2)
	got, _ = r.collect(r.wire)
	require.Len(t, got, 1)
	assert.Equal(t, countTap{in: 1, out: 1}, *tap, "from the kernel: seen as sent")
}

// FuzzException feeds frames to a host whose exception path takes listed
// ports, ARP and ICMP: whatever the frame, no panic, each one goes to the
// kernel or the stack or is dropped, and every mbuf comes back when the
// rig closes.
func FuzzException(f *testing.F) {
	policy, err := stack.ParseExceptionPorts("22,9100-9200")
	require.NoError(f, err)
	policy.ARP, policy.ICMP = true, true
	r := newKNIRig(f, policy)
	f.Add(r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN)))
	f.Add(r.ipFrame(header.IPProtoUDP, udpDgram(9150, "x")))
	f.Add(r.ipFrame(header.IPProtoICMP, icmpEcho(1, 1, 8)))
	f.Add(r.ipFrame(47, nil))
	f.Add(r.arpRequest())
	f.Add(stacktest.EthFrame(r.h.MAC(), kniPeerMAC, header.EtherTypeIPv6, make([]byte, 40)))
	f.Add(r.ipFrame(header.IPProtoTCP, tcpSeg(22, header.TCPFlagSYN))[:header.EthernetLen+header.IPv4MinLen+2])
	f.Add(r.ipFrame(header.IPProtoTCP, nil)[:header.EthernetLen+1])
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 1514 {
			return
		}
		r.t = t
		before := r.stats()["kni_to_kernel"]
		r.inject(frame)
		r.poll(2)
		got, _ := r.collect(r.kern)
		r.collect(r.wire)
		assert.Equal(t, before+uint64(len(got)), r.stats()["kni_to_kernel"], "every frame the kernel got was counted")
		r.t = f
	})
}
