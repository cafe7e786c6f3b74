package udp_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The datagram path allocates nothing on the Go heap (ARCHITECTURE.md
// §5): sendto, input, the receive queue and recvfrom, both ways, and
// SendBuffer/Commit on a connected socket.
func TestDatagramPathNoAllocs(t *testing.T) {
	p := newPair(t)
	srv := bound(t, p.ub(), netip.IPv4Unspecified(), 7100)
	cli := bound(t, p.ua(), netip.IPv4Unspecified(), 7101)
	require.NoError(t, cli.Connect(netip.AddrPortFrom(addrB, 7100)))
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	pingPong := func() {
		if _, err := cli.SendMsg(msg, 0); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		n, from, err := srv.RecvFrom(buf, 0)
		if err != nil || n != len(msg) {
			t.Fatalf("server got %d, %v", n, err)
		}
		if _, err := srv.SendTo(msg, 0, from); err != nil {
			t.Fatal(err)
		}
		p.Pump(2)
		if n, err := cli.RecvMsg(buf, 0); err != nil || n != len(msg) {
			t.Fatalf("client got %d, %v", n, err)
		}
	}
	inPlace := func() {
		room, err := cli.SendBuffer(len(msg))
		if err != nil {
			t.Fatal(err)
		}
		copy(room, msg)
		if cli.Commit(len(msg)) != len(msg) {
			t.Fatal("not sent")
		}
		p.Pump(2)
		if n := srv.ReadView(func(d []byte) int { return len(d) }); n != len(msg) {
			t.Fatalf("server got %d", n)
		}
	}
	for range 50 {
		pingPong()
		inPlace()
	}
	assert.Zero(t, testing.AllocsPerRun(200, pingPong), "sendto/recvfrom")
	assert.Zero(t, testing.AllocsPerRun(200, inPlace), "SendBuffer/Commit, ReadView")
}

// BenchmarkDatagramRoundTrip: a 64-byte datagram from one stack to the
// other over the ring pair and back, sendto and recvfrom on both sides.
func BenchmarkDatagramRoundTrip(b *testing.B) {
	p := newPair(b)
	srv := bound(b, p.ub(), netip.IPv4Unspecified(), 7102)
	cli := bound(b, p.ua(), netip.IPv4Unspecified(), 7103)
	require.NoError(b, cli.Connect(netip.AddrPortFrom(addrB, 7102)))
	msg, buf := make([]byte, 64), make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.SendMsg(msg, 0); err != nil {
			b.Fatal(err)
		}
		p.Pump(2)
		_, from, err := srv.RecvFrom(buf, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := srv.SendTo(msg, 0, from); err != nil {
			b.Fatal(err)
		}
		p.Pump(2)
		if _, err := cli.RecvMsg(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}
