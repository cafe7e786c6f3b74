package ipv4

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
)

// RFC 792, RFC 1122 §3.2.2.6: the reply returns identifier, sequence and
// data unchanged, for any size up to the MTU, to the requester's MAC.
func TestEchoReply(t *testing.T) {
	cases := []struct {
		name    string
		size    int
		tos     uint8
		wantTOS uint8
		options []byte
		padding int
	}{
		{name: "empty", size: 0, padding: 18},
		{name: "ping default", size: 56},
		{name: "up to the MTU", size: 1472},
		{name: "odd size", size: 57},
		{name: "TOS kept, ECN cleared", size: 56, tos: 0xb9, wantTOS: 0xb8},
		{name: "request with options", size: 56, options: []byte{1, 1, 1, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.learnPeer()
			s := echoSpec(c.size)
			s.tos = c.tos
			s.options = c.options
			s.padding = c.padding
			e.l.Input(e.mbuf(s.bytes()))

			f := e.takeFrame()
			require.Equal(t, peerMAC, f.eth().Dst())
			require.Equal(t, ourMAC, f.eth().Src())
			require.Equal(t, header.EtherTypeIPv4, f.eth().EtherType())
			ip, perr := header.ParseIPv4(f.eth().Payload())
			require.Equal(t, header.IPv4OK, perr)
			assert.Len(t, f.eth().Payload(), header.IPv4MinLen+header.ICMPv4MinLen+c.size)
			assert.Equal(t, header.IPv4MinLen, ip.HeaderLen())
			assert.True(t, ip.IsChecksumValid())
			assert.Equal(t, ourAddr, ip.Src())
			assert.Equal(t, peerAddr, ip.Dst())
			assert.Equal(t, header.IPProtoICMP, ip.Protocol())
			assert.Equal(t, uint8(DefaultTTL), ip.TTL())
			assert.Equal(t, c.wantTOS, ip.TOS())
			assert.False(t, ip.IsFragment())

			icmp, ok := header.ParseICMPv4(ip.Payload())
			require.True(t, ok)
			assert.True(t, icmp.IsChecksumValid())
			assert.Equal(t, header.ICMPv4EchoReply, icmp.Type())
			assert.Equal(t, uint8(0), icmp.Code())
			assert.Equal(t, uint16(0x4242), icmp.Ident())
			assert.Equal(t, uint16(7), icmp.Seq())
			assert.Equal(t, echoData(c.size), icmp.Payload())

			st := e.l.Stats()
			assert.Equal(t, uint64(1), st.ICMPInEchos.Load())
			assert.Equal(t, uint64(1), st.ICMPOutEchoReplies.Load())
			assert.Equal(t, uint64(1), st.InDelivers.Load())
			assert.Zero(t, e.totalDrops())
			e.requireNoLeak()
		})
	}
}

// With TxIPv4Cksum the header checksum is left to the port: the field is
// zero and the mbuf asks for the offload.
func TestEchoReplyChecksumOffload(t *testing.T) {
	e := newEnv(t, netdev.TxIPv4Cksum)
	e.learnPeer()
	b := e.mbuf(echoSpec(56).bytes())
	b.SetOlFlags(mbuf.RxIPCksumGood | mbuf.RxL4CksumGood)
	e.l.Input(b)

	f := e.takeFrame()
	ip, perr := header.ParseIPv4(f.eth().Payload())
	require.Equal(t, header.IPv4OK, perr)
	assert.Zero(t, ip.Checksum())
	assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum, f.ol, "rx flags cleared, tx offload set")
	icmp, _ := header.ParseICMPv4(ip.Payload())
	assert.True(t, icmp.IsChecksumValid())
	e.requireNoLeak()
}

// The echo reply to an unresolved requester waits for ARP.
func TestEchoReplyResolvesRequester(t *testing.T) {
	e := newEnv(t, 0)
	e.l.Input(e.mbuf(echoSpec(8).bytes()))
	req := e.takeFrame()
	require.Equal(t, header.BroadcastMAC, req.eth().Dst())
	require.Equal(t, header.EtherTypeARP, req.eth().EtherType())

	e.l.ARPInput(e.mbuf(arpPacket(header.ARPReply, peerMAC, peerAddr, ourMAC, ourAddr)))
	f := e.takeFrame()
	require.Equal(t, peerMAC, f.eth().Dst())
	ip, _ := header.ParseIPv4(f.eth().Payload())
	icmp, _ := header.ParseICMPv4(ip.Payload())
	assert.Equal(t, header.ICMPv4EchoReply, icmp.Type())
	e.requireNoLeak()
}

// ICMP messages other than Echo are counted by type and consumed.
func TestICMPOtherTypes(t *testing.T) {
	e := newEnv(t, 0)
	for _, typ := range []uint8{header.ICMPv4EchoReply, header.ICMPv4DestUnreachable, header.ICMPv4TimeExceeded, 13} {
		s := echoSpec(0)
		s.payload = icmpMsg(typ, 0, 1, 2, echoData(28))
		e.l.Input(e.mbuf(s.bytes()))
	}
	st := e.l.Stats()
	assert.Equal(t, uint64(1), st.ICMPInEchoReps.Load())
	assert.Equal(t, uint64(1), st.ICMPInDestUnreachs.Load())
	assert.Equal(t, uint64(1), st.ICMPInTimeExcds.Load())
	assert.Equal(t, uint64(4), st.ICMPInMsgs.Load())
	assert.Empty(t, e.takeFrames())
	e.requireNoLeak()
}
