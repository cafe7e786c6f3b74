package tcp_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/stacktest"
)

// dispatchBurst is how many data segments the peer injects per turn: one
// rx burst of the stack's loop (ARCHITECTURE.md §5).
const dispatchBurst = 32

// Offsets into a crafted frame with an option-less TCP header.
const (
	tcpOff    = header.EthernetLen + header.IPv4MinLen
	tcpSeqOff = tcpOff + 4
	tcpSumOff = tcpOff + 16
)

// BenchmarkDispatchTCP measures the per-packet cost of the TCP receive
// path of an established connection: bursts of 32 in-order data segments
// go through the host's rx burst, Ethernet dispatch, IPv4 input and TCP
// input (fast path) into the receive queue; the socket's queue is read
// with ReadView (no copy) so the window stays open, and the ACKs the host
// sends back are freed on the raw port. Each injected frame is the same
// template copied into a fresh mbuf of the peer's pool, with only the
// sequence number and the TCP checksum patched (RFC 1624 incremental
// update): nothing is allocated on the Go heap.
//
// Its cases split the cost per packet from the cost per byte: full-sized
// segments ("mss", the make perf figure) and 64-byte ones, each with the
// checksum summed in software and with the port's verdict on it
// (RxL4CksumGood, as a NIC with checksum offload gives). The 64-byte
// offloaded case is the stack's cost per packet; the rest of "mss" is
// per byte (the checksum, and the peer's copy into its mbufs, which the
// timing includes). "jumbo_chain" is a host at MTU 9000 taking
// full-sized 8,960-byte segments that arrive as chains of five mbufs, as
// a port scatters them into 2 KiB buffers (tcp/chain.go), the checksum's
// verdict given, 4 a turn (what the window takes). Each case runs with
// receive offload on, as hosts run by default (one group and one ACK per
// burst, tcp/gro.go), and off ("_nogro": each segment alone, an ACK for
// every second).
func BenchmarkDispatchTCP(b *testing.B) {
	for _, c := range []struct {
		name    string
		payload int // 0: the MSS
		offload bool
	}{{"mss", 0, false}, {"mss_offload", 0, true}, {"64B", 64, false}, {"64B_offload", 64, true}} {
		b.Run(c.name, func(b *testing.B) { dispatchTCP(b, c.payload, c.offload, 1, true) })
		b.Run(c.name+"_nogro", func(b *testing.B) { dispatchTCP(b, c.payload, c.offload, 1, false) })
	}
	b.Run("jumbo_chain", func(b *testing.B) { dispatchTCP(b, 0, true, 5, true) })
}

// dispatchTCP is BenchmarkDispatchTCP's case of segments of payload bytes
// (0: the MSS), with the checksum's verdict offloaded or not, each frame
// in segs mbufs (more than one: a host at MTU 9000, full-sized segments),
// and receive offload on or off.
func dispatchTCP(b *testing.B, payload int, offload bool, segs int, gro bool) {
	pr, mss := newPeer(b), uint16(1460)
	if segs > 1 {
		pr, mss = newPeerMTU(b, 9000), 8960
	}
	pr.tcp().SetGRO(gro)
	// No timestamps, so the template needs no per-packet TSval; window
	// scaling keeps the peer's advertised window out of the way.
	rc := pr.dial(5001, 1000, stacktest.Options(stacktest.OptMSS(mss), stacktest.OptSACKPerm(), stacktest.OptWS(7)))
	size := rc.s.Info().MSS
	require.Positive(b, size)
	if payload > 0 {
		size = payload
	}
	frame := pr.frame(rc.seg(fACK, pattern(size, 9)))
	require.Equal(b, tcpOff+header.TCPMinLen+size, len(frame))
	seq0 := binary.BigEndian.Uint32(frame[tcpSeqOff:])
	sum0 := binary.BigEndian.Uint16(frame[tcpSumOff:])

	// patch writes seq into f and updates its checksum from the template's.
	patch := func(f []byte, seq uint32) {
		sum := header.ChecksumUpdate16(sum0, uint16(seq0>>16), uint16(seq>>16))
		sum = header.ChecksumUpdate16(sum, uint16(seq0), uint16(seq))
		binary.BigEndian.PutUint32(f[tcpSeqOff:], seq)
		binary.BigEndian.PutUint16(f[tcpSumOff:], sum)
	}
	consumed := 0
	consume := func(data []byte) int { consumed += len(data); return len(data) }

	// piece is how much of the frame each mbuf of a chain holds. Jumbo
	// segments come 4 a turn, what the receive window takes at once.
	piece := (len(frame) + segs - 1) / segs
	burst := dispatchBurst
	if segs > 1 {
		burst = 4
	}
	tails := mbuf.NewBurst(burst * (segs - 1))
	loop := pr.h.Stacks()[0].Loop()
	in := mbuf.NewBurst(burst)
	acks := mbuf.NewBurst(dispatchBurst)
	base := stacktest.InUse(pr.h)
	peerBase := pr.pool.InUse()
	seq := rc.seq
	sent := 0
	drainAcks := func() {
		for {
			n := pr.rp.A.RxBurst(0, acks)
			mbuf.FreeBulk(acks[:n])
			if n < len(acks) {
				return
			}
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	for sent < b.N {
		if !pr.pool.AllocBulk(in) || !pr.pool.AllocBulk(tails) {
			b.Fatalf("peer pool exhausted after %d packets", sent)
		}
		for i, m := range in {
			f := m.Put(min(len(frame), piece))
			copy(f, frame)
			patch(f, seq)
			last := m
			for j, t := range tails[i*(segs-1) : (i+1)*(segs-1)] {
				from := (j + 1) * piece
				copy(t.Put(min(len(frame)-from, piece)), frame[from:])
				last = m.AppendSeg(last, t)
			}
			if offload {
				m.SetOlFlags(mbuf.RxL4CksumGood)
			}
			seq += uint32(size)
		}
		if n := pr.rp.A.TxBurst(0, in); n != len(in) {
			b.Fatalf("ring took %d of %d frames", n, len(in))
		}
		sent += len(in)
		loop.Poll()
		rc.s.ReadView(consume)
		drainAcks()
	}
	b.StopTimer()

	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/pkt")
	if consumed != sent*size {
		b.Fatalf("read %d bytes of %d sent in %d segments", consumed, sent*size, sent)
	}
	// Let the last ACK (or delayed ACK) out, then check nothing leaked.
	pr.advance(0)
	loop.Poll()
	drainAcks()
	require.Equal(b, base, stacktest.InUse(pr.h), "host pool back at its baseline")
	require.Equal(b, peerBase, pr.pool.InUse(), "peer pool back at its baseline")
}
