package ipv4

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stat"
)

// stampNow is what Timestamp entries read in these tests: the env's clock
// (one hour) with a zero wall-clock offset, in ms since midnight.
const stampNow = uint32(time.Hour / time.Millisecond)

// newOptEnv is newEnv whose layer stamps stampNow and takes source
// routes when acceptSR is set, with peer and other as known neighbours.
func newOptEnv(t *testing.T, acceptSR bool) *env {
	e := newEnv(t, 0)
	e.l = New(Config{Dev: e.dev, Routes: e.rt, Clock: &e.now, Wheel: e.wheel, AcceptSourceRoute: acceptSR})
	e.l.realOffset = 0
	e.learnPeer()
	e.l.ARPInput(e.mbuf(arpPacket(header.ARPRequest, otherMAC, otherAddr, header.MAC{}, ourAddr)))
	e.takeFrame()
	return e
}

// echoWith is an echo request from the peer carrying opts.
func echoWith(opts ...byte) []byte {
	s := echoSpec(8)
	s.options = opts
	return s.bytes()
}

// a4 is an address's four octets.
func a4(a netip.Addr) []byte { v := a.As4(); return v[:] }

// ms is a timestamp's four octets.
func ms(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// replyOptions checks that the one frame sent is a valid echo reply and
// returns its IP header.
func (e *env) echoReply() header.IPv4 {
	e.t.Helper()
	f := e.takeFrame()
	ip, perr := header.ParseIPv4(f.eth().Payload())
	require.Equal(e.t, header.IPv4OK, perr)
	require.True(e.t, ip.IsChecksumValid())
	require.Equal(e.t, ourAddr, ip.Src())
	icmp, ok := header.ParseICMPv4(ip.Payload())
	require.True(e.t, ok)
	require.True(e.t, icmp.IsChecksumValid())
	require.Equal(e.t, header.ICMPv4EchoReply, icmp.Type())
	require.Equal(e.t, echoData(8), []byte(icmp.Payload()))
	return ip
}

// RFC 791 §3.1, RFC 1122 §3.2.2.6: Record Route gets our address on the
// way in and again on the way out of the reply, as Linux records it.
func TestRecordRoute(t *testing.T) {
	e := newOptEnv(t, false)
	rr := []byte{7, 15, 8}
	rr = append(append(rr, a4(otherAddr)...), make([]byte, 8)...)
	e.l.Input(e.mbuf(echoWith(append(rr, 0)...)))

	ip := e.echoReply()
	want := []byte{7, 15, 16}
	want = append(append(append(append(want, a4(otherAddr)...), a4(ourAddr)...), a4(ourAddr)...), 0)
	assert.Equal(t, want, ip.Options())
	assert.Equal(t, peerAddr, ip.Dst())
	assert.Equal(t, uint64(1), e.l.Stats().InRecordRoutes.Load())
	assert.Equal(t, uint64(1), e.l.Stats().OutOptions.Load())
	e.requireNoLeak()
}

// A full Record Route is returned as it came: nothing recorded.
func TestRecordRouteFull(t *testing.T) {
	e := newOptEnv(t, false)
	rr := append([]byte{7, 7, 8}, a4(otherAddr)...)
	e.l.Input(e.mbuf(echoWith(append(rr, 0)...)))
	assert.Equal(t, append(rr, 0), []byte(e.echoReply().Options()))
	assert.Zero(t, e.l.Stats().InRecordRoutes.Load())
	e.requireNoLeak()
}

// RFC 791 §3.1 "Internet Timestamp": each flag stamps its own way, on
// the way in and on the reply's way out.
func TestTimestamp(t *testing.T) {
	cases := []struct {
		name     string
		opt      []byte
		want     []byte
		stamped  uint64
		overflow uint64
	}{
		{"timestamps only",
			cat([]byte{68, 16, 5, 0}, make([]byte, 12)),
			cat([]byte{68, 16, 13, 0}, ms(stampNow), ms(stampNow), make([]byte, 4)), 1, 0},
		{"with addresses",
			cat([]byte{68, 20, 5, 1}, make([]byte, 16)),
			cat([]byte{68, 20, 21, 1}, a4(ourAddr), ms(stampNow), a4(ourAddr), ms(stampNow)), 1, 0},
		{"prespecified, ours first",
			cat([]byte{68, 20, 5, 3}, a4(ourAddr), ms(0), a4(otherAddr), ms(0)),
			cat([]byte{68, 20, 13, 3}, a4(ourAddr), ms(stampNow), a4(otherAddr), ms(0)), 1, 0},
		{"prespecified, another's turn",
			cat([]byte{68, 20, 5, 3}, a4(otherAddr), ms(0), a4(ourAddr), ms(0)),
			cat([]byte{68, 20, 5, 3}, a4(otherAddr), ms(0), a4(ourAddr), ms(0)), 0, 0},
		{"full: overflow counted",
			cat([]byte{68, 8, 9, 0x20}, ms(7)),
			cat([]byte{68, 8, 9, 0x30}, ms(7)), 0, 1},
		{"full prespecified: no overflow",
			cat([]byte{68, 12, 13, 0x03}, a4(otherAddr), ms(7)),
			cat([]byte{68, 12, 13, 0x03}, a4(otherAddr), ms(7)), 0, 0},
		{"one slot left: stamped in, not out",
			cat([]byte{68, 8, 5, 0}, ms(0)),
			cat([]byte{68, 8, 9, 0}, ms(stampNow)), 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newOptEnv(t, false)
			e.l.Input(e.mbuf(echoWith(c.opt...)))
			got := e.echoReply().Options()
			assert.Equal(t, c.want, []byte(got[:len(c.want)]))
			assert.Equal(t, c.stamped, e.l.Stats().InTimestamps.Load())
			assert.Equal(t, c.overflow, e.l.Stats().InTimestampOverflows.Load())
			e.requireNoLeak()
		})
	}
}

// Both options in one request come back, padded to a multiple of 4.
func TestEchoBothOptions(t *testing.T) {
	e := newOptEnv(t, false)
	opts := cat([]byte{1, 7, 7, 4}, make([]byte, 4), []byte{68, 8, 5, 0}, make([]byte, 4), []byte{0, 0, 0, 0})
	e.l.Input(e.mbuf(echoWith(opts...)))
	ip := e.echoReply()
	assert.Equal(t, cat([]byte{7, 7, 8}, a4(ourAddr), []byte{68, 8, 9, 0}, ms(stampNow), []byte{0}), []byte(ip.Options()))
	e.requireNoLeak()
}

// RFC 1122 §3.2.1.8: options a host does not know are ignored; they are
// not returned.
func TestUnknownOptionsSkipped(t *testing.T) {
	e := newOptEnv(t, false)
	e.l.Input(e.mbuf(echoWith(30, 6, 1, 2, 3, 4, 148, 4, 0, 0, 1, 0)))
	ip := e.echoReply()
	assert.Equal(t, header.IPv4MinLen, ip.HeaderLen())
	assert.Zero(t, e.totalDrops())
	e.requireNoLeak()
}

// Linux's accept_source_route=0: source-routed datagrams are dropped and
// counted, loose or strict.
func TestSourceRouteDropped(t *testing.T) {
	for _, typ := range []byte{header.IPOptionLSRR, header.IPOptionSSRR} {
		e := newOptEnv(t, false)
		e.l.Input(e.mbuf(echoWith(cat([]byte{typ, 7, 8}, a4(otherAddr), []byte{0})...)))
		assert.Empty(t, e.takeFrames())
		assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPSourceRoute))
		assert.Equal(t, uint64(1), e.l.Stats().InSourceRouteDrops.Load())
		assert.Zero(t, e.l.Stats().InDelivers.Load())
		e.requireNoLeak()
	}
}

// With accept_source_route, a route that ends here is delivered, and the
// echo reply goes back along it reversed (RFC 1122 §3.2.1.8 (c)): first
// to the last hop recorded, the rest in reverse, the source last; a first
// hop equal to the source is left out (the same section's case (B)).
func TestSourceRouteAccepted(t *testing.T) {
	hopA := netip.MustParseAddr("198.18.1.1")
	cases := []struct {
		name      string
		opt       []byte
		wantOpt   []byte
		wantFirst netip.Addr
	}{
		{"two hops", cat([]byte{131, 11, 12}, a4(hopA), a4(otherAddr), []byte{0}),
			cat([]byte{131, 11, 4}, a4(hopA), a4(peerAddr), []byte{0}), otherAddr},
		{"strict, source recorded first", cat([]byte{137, 11, 12}, a4(peerAddr), a4(otherAddr), []byte{0}),
			cat([]byte{137, 7, 4}, a4(peerAddr), []byte{0}), otherAddr},
		{"last entry ours, passed over, not a hop back", cat([]byte{131, 11, 8}, a4(otherAddr), a4(ourAddr), []byte{0}),
			cat([]byte{131, 7, 4}, a4(peerAddr), []byte{0}), otherAddr},
		{"nothing recorded", []byte{131, 3, 4, 0},
			nil, peerAddr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newOptEnv(t, true)
			e.l.Input(e.mbuf(echoWith(c.opt...)))
			f := e.takeFrames()
			require.NotEmpty(t, f)
			ip, perr := header.ParseIPv4(f[len(f)-1].eth().Payload())
			require.Equal(t, header.IPv4OK, perr)
			require.True(t, ip.IsChecksumValid())
			assert.Equal(t, c.wantFirst, ip.Dst())
			if c.wantOpt == nil {
				assert.Empty(t, ip.Options())
			} else {
				assert.Equal(t, c.wantOpt, []byte(ip.Options()))
			}
			assert.Equal(t, uint64(1), e.l.Stats().ICMPOutEchoReplies.Load())
			e.requireNoLeak()
		})
	}
}

// RFC 1122 §3.3.5: a source route that goes on to another host fails
// here, since a host does not forward: Destination Unreachable, Source
// Route Failed.
func TestSourceRouteGoesOn(t *testing.T) {
	e := newOptEnv(t, true)
	e.l.Input(e.mbuf(echoWith(cat([]byte{131, 11, 4}, a4(otherAddr), make([]byte, 4), []byte{0})...)))
	_, icmp := errorOf(t, e.takeFrame())
	assert.Equal(t, header.ICMPv4DestUnreachable, icmp.Type())
	assert.Equal(t, header.ICMPv4SourceRouteFail, icmp.Code())
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPSourceRoute))
	e.requireNoLeak()
}

// RFC 1122 §3.2.1.8, §3.2.2.5: a malformed option draws a Parameter
// Problem whose pointer is the bad octet counted from the header's start,
// and the datagram is dropped.
func TestBadOptionsParameterProblem(t *testing.T) {
	cases := []struct {
		name string
		opts []byte
		ptr  uint8
	}{
		{"length 0", []byte{7, 0, 4, 0}, 20},
		{"length past the header", []byte{1, 7, 12, 4, 0, 0, 0, 0}, 21},
		{"no room for the length", []byte{1, 1, 1, 68}, 23},
		{"record route pointer 3", []byte{7, 7, 3, 0, 0, 0, 0, 0}, 22},
		{"timestamp pointer 4", []byte{68, 8, 4, 0, 0, 0, 0, 0}, 22},
		{"timestamp too short", []byte{1, 68, 3, 5}, 22},
		{"timestamp overflow at 15", []byte{68, 8, 9, 0xf0, 0, 0, 0, 0}, 23},
		{"record route twice", []byte{7, 3, 4, 7, 3, 4, 0, 0}, 23},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newOptEnv(t, false)
			sent := echoWith(c.opts...)
			e.l.Input(e.mbuf(sent))
			ip, icmp := errorOf(t, e.takeFrame())
			assert.Equal(t, peerAddr, ip.Dst())
			assert.Equal(t, header.ICMPv4ParamProblem, icmp.Type())
			assert.Zero(t, icmp.Code())
			assert.Equal(t, c.ptr, icmp[4], "pointer")
			assert.Zero(t, icmp[5]|icmp[6]|icmp[7])
			assert.Equal(t, sent, []byte(icmp.Payload()))
			assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPBadOptions))
			assert.Equal(t, uint64(1), e.l.Stats().InBadOptions.Load())
			assert.Equal(t, uint64(1), e.l.Stats().InHdrErrors.Load())
			assert.Equal(t, uint64(1), e.l.Stats().ICMPOutParmProbs.Load())
			e.requireNoLeak()
		})
	}
}

// RFC 791 §3.1: Record Route and Timestamp travel in the first fragment
// only. Its options are checked and filled in as it arrives, once: the
// reply to the reassembled echo holds our address twice (arrival and
// departure), not three times. A malformed list in a first fragment draws
// its Parameter Problem, which a first fragment may (RFC 1122 §3.2.2).
func TestFirstFragmentOptions(t *testing.T) {
	e := newOptEnv(t, false)
	s := echoSpec(64)
	s.options = []byte{7, 15, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, f := range fragmentsOf(s, 32) {
		e.l.Input(e.mbuf(f))
	}
	assert.Equal(t, uint64(1), e.l.Stats().InRecordRoutes.Load())
	assert.Equal(t, uint64(1), e.l.Stats().ReasmOKs.Load())
	frames := e.linearFrames()
	require.Len(t, frames, 1)
	ip, perr := header.ParseIPv4(header.Ethernet(frames[0]).Payload())
	require.Equal(t, header.IPv4OK, perr)
	us := ourAddr.As4()
	rr := ip.Options()
	assert.Equal(t, []byte{7, 15, 12}, []byte(rr[:3]), "two entries recorded")
	assert.Equal(t, cat(us[:], us[:], make([]byte, 4)), []byte(rr[3:15]))

	bad := echoSpec(64)
	bad.options = []byte{7, 7, 3, 0, 0, 0, 0, 0}
	bad.id = 0x4321
	e.l.Input(e.mbuf(fragmentsOf(bad, 32)[0]))
	_, icmp := errorOf(t, e.takeFrame())
	assert.Equal(t, header.ICMPv4ParamProblem, icmp.Type())
	assert.Equal(t, uint8(22), icmp[4])
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPBadOptions))
	e.requireNoLeak()
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// A Record Route whose length leaves a partial slot: our address fits on
// the way in, and the pointer then lies inside the partial slot, so no
// well-formed reply can carry it; as in Linux, none is sent.
func TestEchoOptionsMalformedAfterFill(t *testing.T) {
	e := newOptEnv(t, false)
	e.l.Input(e.mbuf(echoWith(cat([]byte{7, 10, 4}, make([]byte, 7), []byte{0, 0})...)))
	assert.Empty(t, e.takeFrames())
	assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropIPBadOptions))
	e.requireNoLeak()
}

// FuzzEchoOptions: an echo request with any options, source routes
// accepted, never panics nor leaks; a reply, when one is sent, has a
// valid header whose options parse.
func FuzzEchoOptions(f *testing.F) {
	f.Add(cat([]byte{7, 15, 8}, a4(otherAddr), make([]byte, 8)))
	f.Add(cat([]byte{68, 20, 5, 1}, make([]byte, 16)))
	f.Add(cat([]byte{68, 20, 5, 3}, a4(ourAddr), ms(0), a4(otherAddr), ms(0)))
	f.Add(cat([]byte{131, 11, 12}, a4(otherAddr), a4(peerAddr)))
	f.Add(cat([]byte{137, 11, 8}, a4(otherAddr), a4(ourAddr)))
	f.Add([]byte{68, 8, 9, 0xf0, 0, 0, 0, 0})
	f.Add([]byte{7, 10, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{148, 4, 0, 0, 30, 2})
	e := newEnv(f, 0)
	e.l = New(Config{Dev: e.dev, Routes: e.rt, Clock: &e.now, Wheel: e.wheel, AcceptSourceRoute: true})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > header.IPv4MaxOptionsLen {
			return
		}
		e.t = t
		e.learnPeer()
		padded := make([]byte, (len(opts)+3)&^3)
		copy(padded, opts)
		e.l.Input(e.mbuf(echoWith(padded...)))
		for _, fr := range e.takeFrames() {
			if fr.eth().EtherType() != header.EtherTypeIPv4 {
				continue
			}
			ip, perr := header.ParseIPv4(fr.eth().Payload())
			require.Equal(t, header.IPv4OK, perr)
			require.True(t, ip.IsChecksumValid())
			_, bad := header.ParseIPv4Options(ip.Options())
			require.Zero(t, bad, "%x", ip.Options())
		}
		e.reset()
		require.Zero(t, e.pool.InUse())
	})
}

// A packet another core handed over had its options processed there: its
// Record Route does not get our address twice.
func TestHandedInOptionsNotFilledAgain(t *testing.T) {
	e := newOptEnv(t, false)
	var got []byte
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) {
		got = append([]byte(nil), ip.Options()...)
		e.dev.Free(b)
	})
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(8),
		options: []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
	e.l.Input(e.mbuf(s.bytes()))
	want := cat([]byte{7, 11, 8}, a4(ourAddr), make([]byte, 5))
	assert.Equal(t, want, got)

	e.l.SetHandedIn(true)
	b := e.mbuf(s.bytes())
	copy(b.Bytes()[header.IPv4MinLen:], want) // as the first core left it
	header.IPv4(b.Bytes()).SetChecksumFull()
	e.l.Input(b)
	e.l.SetHandedIn(false)
	assert.Equal(t, want, got)
	assert.Equal(t, uint64(1), e.l.Stats().InRecordRoutes.Load())
	e.requireNoLeak()
}

// The echo of a header rcvOptions did not see (one a reassembly put
// together) reads its options afresh rather than trusting what was
// learnt of another datagram.
func TestEchoOptionsOtherHeader(t *testing.T) {
	e := newOptEnv(t, false)
	e.l.rxOpt = rxOptions{IPv4Options: header.IPv4Options{RR: 52, TS: 200}}
	rr := cat([]byte{7, 7, 8}, a4(otherAddr), []byte{0})
	ip := header.IPv4(echoWith(rr...))
	opts, first, ok := e.l.echoOptions(ip)
	require.True(t, ok)
	assert.Equal(t, rr, opts)
	assert.Equal(t, peerAddr, first)
}

// OutputOptions puts the options after the fixed header (ip_options_build)
// and counts their length in IHL and Total Length.
func TestOutputOptions(t *testing.T) {
	for _, feat := range []netdev.Features{0, netdev.TxIPv4Cksum} {
		e := newEnv(t, feat)
		e.learnPeer()
		opts := []byte{148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0}
		e.l.OutputOptions(e.segment(100), e.lookup(), testProto, ourAddr, peerAddr, 0, 64, opts)
		f := e.takeFrame()
		ip, perr := header.ParseIPv4(f.eth().Payload())
		require.Equal(t, header.IPv4OK, perr)
		assert.Equal(t, header.IPv4MinLen+len(opts), ip.HeaderLen())
		assert.Equal(t, uint16(132), ip.TotalLen())
		assert.Equal(t, opts, []byte(ip.Options()))
		assert.Equal(t, echoData(100), ip.Payload())
		if feat.Has(netdev.TxIPv4Cksum) {
			assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum, f.ol)
		} else {
			assert.True(t, ip.IsChecksumValid())
		}
		assert.Equal(t, uint64(1), e.l.Stats().OutOptions.Load())

		// The options count against the MTU as the data does.
		e.l.OutputOptions(e.segment(1480-len(opts)+1), e.lookup(), testProto, ourAddr, peerAddr, 0, 64, opts)
		assert.Empty(t, e.takeFrames())
		assert.Equal(t, uint64(1), e.dev.Drops.Get(stat.DropFrameTooBig))
		e.requireNoLeak()
	}
}
