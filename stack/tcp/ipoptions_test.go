package tcp_test

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stack/tcp"
	"github.com/dpstack/dpstack/stat"
)

// ipOptsSeen counts the TCP segments a host receives, and those whose IP
// header carries options starting with want.
type ipOptsSeen struct {
	want          []byte
	segs, withOpt int
	biggest       int // the largest datagram, in bytes
}

// watchIPOptions puts a counter in front of h's TCP input.
func watchIPOptions(h *stack.Host, want []byte) *ipOptsSeen {
	w := &ipOptsSeen{want: want}
	st := h.Stacks()[0]
	tcpIn := st.TCP().Input
	st.IPv4().RegisterProtocol(header.IPProtoTCP, func(b *mbuf.Buf, ip header.IPv4) {
		w.segs++
		if bytes.HasPrefix(ip.Options(), w.want) {
			w.withOpt++
		}
		w.biggest = max(w.biggest, len(ip))
		tcpIn(b, ip)
	})
	return w
}

// IP_OPTIONS (ip_options_get, ip_options_build): set before connecting,
// every segment the socket sends carries them, the SYN included, and the
// send MSS leaves room for them (icsk_ext_hdr_len, RFC 6691 §2); set on a
// connected socket, the MSS follows at once. A child of a listener does
// not inherit its listener's options, as in Linux.
func TestIPOptionsOnConnection(t *testing.T) {
	p := newPair(t)
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)
	// Router Alert, then a Record Route with one slot for the receiver.
	opts := []byte{148, 4, 0, 0, 1, 7, 7, 4, 0, 0, 0, 0}
	atB := watchIPOptions(p.B, opts[:5])
	atA := watchIPOptions(p.A, opts[:5])

	ln := listen(t, p.B, 80, 4)
	require.NoError(t, ln.SetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, opts))
	cl := p.ta().NewSock()
	require.NoError(t, cl.SetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, opts))
	require.ErrorIs(t, cl.Connect(netip.AddrPortFrom(addrB.Addr(), 80)), syscall.EINPROGRESS)
	var sv *tcp.Sock
	p.PumpUntil("accept", func() bool {
		s, err := ln.AcceptSock()
		sv = s
		return err == nil
	})
	p.PumpUntil("client established", func() bool { return cl.State() == sock.Established })

	assert.Equal(t, 1448-len(opts), cl.Info().MSS, "MTU 1500 less 40, timestamps and the IP options")
	assert.Equal(t, 1448, sv.Info().MSS, "the child has no IP options")
	got, err := sv.GetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS)
	require.NoError(t, err)
	assert.Empty(t, got)

	data := pattern(200_000, 5)
	assert.True(t, bytes.Equal(data, p.transfer(cl, sv, data)))
	assert.Positive(t, atB.segs)
	assert.Equal(t, atB.segs, atB.withOpt, "every segment from the client carries the options")
	assert.Equal(t, 1500, atB.biggest, "full-sized segments fill the MTU exactly")
	assert.Zero(t, atA.withOpt, "none from the server")

	// Set on the connected server: its MSS shrinks, its segments carry them.
	require.NoError(t, sv.SetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, opts))
	assert.Equal(t, 1448-len(opts), sv.Info().MSS)
	p.Pump(4) // the server's last ACKs, sent without, arrive
	atA.segs, atA.withOpt = 0, 0
	assert.True(t, bytes.Equal(data, p.transfer(sv, cl, data)))
	assert.Positive(t, atA.segs)
	assert.Equal(t, atA.segs, atA.withOpt)
	assert.Equal(t, 1500, atA.biggest)

	// Removed: segments go without, and the MSS is back.
	require.NoError(t, cl.SetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, nil))
	assert.Equal(t, 1448, cl.Info().MSS)
	p.Pump(4)
	atB.segs, atB.withOpt = 0, 0
	assert.True(t, bytes.Equal(data[:5000], p.transfer(cl, sv, data[:5000])))
	assert.Positive(t, atB.segs)
	assert.Zero(t, atB.withOpt)

	cl.Close()
	sv.Close()
	ln.Close()
	p.Pump(8)
	assert.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B), "every mbuf is back")
}

// IP_OPTIONS set while data waits unsent: the waiting segments are cut
// again to the smaller MSS, so that with the options every datagram still
// fits the MTU and all of the data arrives.
func TestIPOptionsQueuedData(t *testing.T) {
	p := newPair(t)
	base := stacktest.InUse(p.A) + stacktest.InUse(p.B)
	c := p.connect(80)
	opts := []byte{7, 39, 4, 39: 0}
	atB := watchIPOptions(p.B, opts[:2]) // B fills in the pointer

	data := pattern(60_000, 6)
	n, err := c.cl.SendMsg(data, 0)
	require.NoError(t, err)
	require.Positive(t, c.cl.Info().Unsent, "data waits unsent")
	require.NoError(t, c.cl.SetSockOptBytes(syscall.IPPROTO_IP, syscall.IP_OPTIONS, opts))
	assert.Equal(t, 1448-len(opts), c.cl.Info().MSS)

	var got []byte
	buf := make([]byte, 65536)
	for left, i := data[n:], 0; len(got) < len(data); i++ {
		require.Less(t, i, 100000, "only %d of %d bytes came", len(got), len(data))
		if k, err := c.cl.SendMsg(left, 0); err == nil {
			left = left[k:]
		}
		p.Pump(1)
		if k, err := c.sv.RecvMsg(buf, 0); err == nil {
			got = append(got, buf[:k]...)
		}
	}
	assert.True(t, bytes.Equal(data, got))
	assert.Positive(t, atB.withOpt)
	assert.LessOrEqual(t, atB.biggest, 1500)
	assert.Zero(t, p.A.Stacks()[0].Device().Drops.Get(stat.DropFrameTooBig))

	c.cl.Close()
	c.sv.Close()
	c.ln.Close()
	p.Pump(8)
	assert.Equal(t, base, stacktest.InUse(p.A)+stacktest.InUse(p.B), "every mbuf is back")
}
