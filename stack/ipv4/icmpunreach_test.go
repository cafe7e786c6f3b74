package ipv4

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// quotedDatagram is a datagram of testProto from src to the peer, as an
// ICMP error quotes it: its header and n bytes of its data.
func quotedDatagram(src netip.Addr, n int) []byte {
	s := ipSpec{src: src, dst: peerAddr, proto: testProto, ttl: 64, flags: header.IPv4FlagDF, payload: echoData(1000)}
	return s.bytes()[:header.IPv4MinLen+n]
}

// errorFrom is an ICMP error of typ and code with info in its second
// word, quoting q, sent by a router to us.
func errorFrom(typ, code uint8, info uint32, q []byte) []byte {
	msg := icmpMsg(typ, code, 0, 0, q)
	binary.BigEndian.PutUint32(msg[4:8], info)
	header.ICMPv4(msg).SetChecksumFull()
	return ipSpec{src: otherAddr, dst: ourAddr, proto: header.IPProtoICMP, ttl: 64, payload: msg}.bytes()
}

// Destination Unreachable, Time Exceeded and Parameter Problem reach the
// quoted protocol's error handler with the quote and the second word; the
// handler owns the mbuf.
func TestICMPErrorDelivered(t *testing.T) {
	e := newEnv(t, 0)
	type got struct {
		typ, code uint8
		mtu       int
		src, dst  netip.Addr
		transport []byte
	}
	var seen []got
	e.l.RegisterErrorHandler(testProto, func(b *mbuf.Buf, ie *ICMPError) {
		seen = append(seen, got{ie.Type, ie.Code, ie.MTU(), ie.Quoted.Src(), ie.Quoted.Dst(),
			append([]byte(nil), ie.Transport...)})
		e.dev.Free(b)
	})
	q := quotedDatagram(ourAddr, 8)
	e.l.Input(e.mbuf(errorFrom(header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, 1280, q)))
	e.l.Input(e.mbuf(errorFrom(header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded, 0, q)))
	e.l.Input(e.mbuf(errorFrom(header.ICMPv4ParamProblem, 0, 20<<24, q)))
	require.Len(t, seen, 3)
	assert.Equal(t, got{header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, 1280, ourAddr, peerAddr, q[20:]}, seen[0])
	assert.Equal(t, header.ICMPv4TimeExceeded, seen[1].typ)
	assert.Equal(t, header.ICMPv4ParamProblem, seen[2].typ)

	st := e.l.Stats()
	assert.EqualValues(t, 3, st.ICMPInMsgs.Load())
	assert.EqualValues(t, 1, st.ICMPInDestUnreachs.Load())
	assert.EqualValues(t, 1, st.ICMPInTimeExcds.Load())
	assert.EqualValues(t, 1, st.ICMPInParmProbs.Load())
	assert.Zero(t, e.totalDrops())
	e.requireNoLeak()
}

// Errors that cannot be delivered are counted and dropped: a quote shorter
// than an IP header and 8 bytes of data (RFC 1122 §3.2.2), a bad IHL, a
// quote of another host's datagram, a protocol without a handler; Source
// Quench (RFC 6633) and Redirect are counted by type and ignored.
func TestICMPErrorRefused(t *testing.T) {
	e := newEnv(t, 0)
	e.l.RegisterErrorHandler(testProto, func(b *mbuf.Buf, ie *ICMPError) {
		t.Errorf("handler called for %d/%d", ie.Type, ie.Code)
		e.dev.Free(b)
	})
	du := header.ICMPv4DestUnreachable
	badIHL := quotedDatagram(ourAddr, 8)
	badIHL[0] = 0x44
	other := quotedDatagram(ourAddr, 8)
	other[9] = testProto - 1
	cases := []struct {
		name   string
		pkt    []byte
		reason stat.DropReason
	}{
		{"short quote", errorFrom(du, header.ICMPv4PortUnreachable, 0, quotedDatagram(ourAddr, 7)), stat.DropICMPBadQuote},
		{"bad IHL", errorFrom(du, header.ICMPv4PortUnreachable, 0, badIHL), stat.DropICMPBadQuote},
		{"another host's packet", errorFrom(du, header.ICMPv4PortUnreachable, 0, quotedDatagram(otherAddr, 8)), stat.DropICMPQuoteNotOurs},
		{"no handler", errorFrom(du, header.ICMPv4PortUnreachable, 0, other), stat.DropICMPErrorIgnored},
		{"source quench", errorFrom(header.ICMPv4SourceQuench, 0, 0, quotedDatagram(ourAddr, 8)), stat.DropICMPUnhandledType},
		{"redirect", errorFrom(header.ICMPv4Redirect, 1, 0, quotedDatagram(ourAddr, 8)), stat.DropICMPUnhandledType},
	}
	for _, c := range cases {
		before := e.dev.Drops.Get(c.reason)
		e.l.Input(e.mbuf(c.pkt))
		assert.Equal(t, before+1, e.dev.Drops.Get(c.reason), c.name)
	}
	st := e.l.Stats()
	assert.EqualValues(t, 2, st.ICMPInErrors.Load(), "the two bad quotes")
	assert.EqualValues(t, 1, st.ICMPInSrcQuenchs.Load())
	assert.EqualValues(t, 1, st.ICMPInRedirects.Load())
	assert.Empty(t, e.takeFrames(), "no error answers an error")
	e.requireNoLeak()
}
