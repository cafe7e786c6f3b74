package tcp_test

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
)

// The established data path allocates nothing on the Go heap (ARCHITECTURE.md
// §5): request/response, bulk with ACKs and window updates, delayed ACKs
// and retransmission timers.
func TestEstablishedPathNoAllocs(t *testing.T) {
	p := newPair(t)
	c := p.connect(80)
	msg := pattern(1000, 1)
	buf := make([]byte, 65536)
	pingPong := func() {
		if _, err := c.cl.SendMsg(msg, 0); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		if n, _ := c.sv.RecvMsg(buf, 0); n != len(msg) {
			t.Fatalf("server got %d", n)
		}
		if _, err := c.sv.SendMsg(msg, 0); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		if n, _ := c.cl.RecvMsg(buf, 0); n != len(msg) {
			t.Fatalf("client got %d", n)
		}
	}
	for range 50 {
		pingPong()
	}
	assert.Zero(t, testing.AllocsPerRun(200, pingPong), "request/response")

	big := pattern(256*1024, 2)
	bulk := func() {
		sent, got := 0, 0
		for i := 0; got < len(big); i++ {
			if i > 100000 {
				t.Fatal("bulk transfer stalls")
			}
			if sent < len(big) {
				if n, err := c.cl.SendMsg(big[sent:], 0); err == nil {
					sent += n
				}
			}
			p.Pump(1)
			if n, err := c.sv.RecvMsg(buf, 0); err == nil {
				got += n
			}
		}
	}
	bulk()
	assert.Zero(t, testing.AllocsPerRun(10, bulk), "bulk with window updates")

	// Timers: a delayed ACK, then a retransmission by RTO.
	require.NoError(t, c.sv.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0))
	require.NoError(t, c.cl.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	p.Advance(time.Second)
	timers := func() {
		if _, err := c.cl.SendMsg(msg[:10], 0); err != nil {
			t.Fatal(err)
		}
		p.A.Stacks()[0].Loop().Flush()
		if p.Rings.B.RxBurst(0, burstOf(1)) != 1 { // lost
			t.Fatal("nothing to lose")
		}
		freeBurst()
		p.Advance(c.cl.Info().RTO + 50*time.Millisecond)
		if n, _ := c.sv.RecvMsg(buf, 0); n != 10 {
			t.Fatalf("server got %d", n)
		}
		p.Advance(250 * time.Millisecond)
	}
	timers()
	assert.Zero(t, testing.AllocsPerRun(20, timers), "delayed ACK and RTO")
}

// With TX checksum offload the TCP checksum field carries the pseudo
// header's sum and the mbuf asks the port for the rest (DPDK's
// rte_ipv4_phdr_cksum convention); without it the sum is complete.
func TestChecksumOffload(t *testing.T) {
	pr := newPeer(t)
	dev := pr.h.Stacks()[0].Device()
	dev.Features |= netdev.TxTCPCksum
	pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 1, Flags: fSYN})
	r := pr.expect(stacktest.Flags(fRST | fACK))
	assert.True(t, r.Offload, "RTE_MBUF_F_TX_TCP_CKSUM set")
	dev.Features &^= netdev.TxTCPCksum
	pr.send(stacktest.Segment{SrcPort: 1000, DstPort: 81, Seq: 1, Flags: fSYN})
	r = pr.expect(stacktest.Flags(fRST | fACK))
	assert.False(t, r.Offload)
}

// BenchmarkRequestResponse is a 64-byte request and response between two
// stacks over the ring pair, on one goroutine: the TCP cost of a round trip
// (both stacks' receive and transmit paths) without an API layer.
func BenchmarkRequestResponse(b *testing.B) {
	p := newPair(b)
	c := p.connect(80)
	require.NoError(b, c.cl.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	require.NoError(b, c.sv.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
	msg := pattern(64, 1)
	buf := make([]byte, 4096)
	la, lb := p.A.Stacks()[0].Loop(), p.B.Stacks()[0].Loop()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.cl.SendMsg(msg, 0); err != nil {
			b.Fatal(err)
		}
		la.Flush()
		lb.Poll()
		if n, _ := c.sv.RecvMsg(buf, 0); n != len(msg) {
			b.Fatalf("server got %d", n)
		}
		if _, err := c.sv.SendMsg(msg, 0); err != nil {
			b.Fatal(err)
		}
		lb.Flush()
		la.Poll()
		if n, _ := c.cl.RecvMsg(buf, 0); n != len(msg) {
			b.Fatalf("client got %d", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/roundtrip")
}

// BenchmarkBulk moves data one way between two stacks and reports the
// rate (bytes per second of one goroutine driving both stacks), with the
// receiver's GRO on and off.
func BenchmarkBulk(b *testing.B) {
	b.Run("gro", func(b *testing.B) { bulk(b, true) })
	b.Run("nogro", func(b *testing.B) { bulk(b, false) })
}

// bulk is BenchmarkBulk with the receiver's GRO on or off.
func bulk(b *testing.B, gro bool) {
	p := newPair(b)
	p.tb().SetGRO(gro)
	benchBulk(b, p)
}

// benchBulk moves 64 KiB per op from a to b over p, one turn at a time.
func benchBulk(b *testing.B, p *pair) {
	c := p.connect(80)
	chunk := pattern(64*1024, 3)
	buf := make([]byte, 64*1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		sent, got := 0, 0
		for got < len(chunk) {
			if sent < len(chunk) {
				if n, err := c.cl.SendMsg(chunk[sent:], 0); err == nil {
					sent += n
				}
			}
			p.Pump(1)
			if n, err := c.sv.RecvMsg(buf, 0); err == nil {
				got += n
			}
		}
	}
}

// BenchmarkConnect opens a connection between two stacks over the ring
// pair, accepts it and aborts it (SO_LINGER 0, so that no TIME-WAIT
// piles up): the TCP cost of a handshake on both sides, for conn/s.
func BenchmarkConnect(b *testing.B) {
	p := newPair(b)
	ln := listen(b, p.B, 80, 128)
	to := netip.AddrPortFrom(addrB.Addr(), 80)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := dial(b, p.A, to)
		var sv *tcp.Sock
		p.PumpUntil("accept", func() bool {
			s, err := ln.AcceptSock()
			sv = s
			return err == nil
		})
		require.NoError(b, c.SetSockOptLinger(syscall.SOL_SOCKET, syscall.SO_LINGER, syscall.Linger{Onoff: 1}))
		c.Close()
		sv.Close()
		p.Pump(2)
	}
}
