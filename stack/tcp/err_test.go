package tcp_test

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// routerAddr is a router between the host and the raw peer that reports
// errors about the host's segments.
var routerAddr = netip.MustParseAddr("198.18.1.254")

// icmpAbout injects an ICMP error of typ and code from the router, with
// info in its second word (the MTU of a Fragmentation Needed), quoting a
// segment the host sent to the peer: its IP header and the first 8 bytes
// of its TCP header (ports and sequence number). from is the quoted
// source: the host's address, or another host's.
func (pr *peer) icmpAbout(typ, code uint8, info uint32, from netip.Addr, sport, dport uint16, seq uint32) {
	pr.t.Helper()
	th := make([]byte, 8)
	binary.BigEndian.PutUint16(th[0:2], sport)
	binary.BigEndian.PutUint16(th[2:4], dport)
	binary.BigEndian.PutUint32(th[4:8], seq)
	quote := stacktest.IPv4Packet(from, pr.addr, header.IPProtoTCP, 63, th)
	msg := make([]byte, header.ICMPv4MinLen+len(quote))
	m := header.ICMPv4(msg)
	m.SetType(typ)
	m.SetCode(code)
	binary.BigEndian.PutUint32(msg[4:8], info)
	copy(msg[header.ICMPv4MinLen:], quote)
	m.SetChecksumFull()
	pr.inject(stacktest.EthFrame(pr.h.MAC(), pr.mac, header.EtherTypeIPv4,
		stacktest.IPv4Packet(routerAddr, pr.h.Addr().Addr(), header.IPProtoICMP, 64, msg)))
	pr.poll(2)
}

// icmp is icmpAbout for a segment of the connection at seq.
func (rc *rawConn) icmp(typ, code uint8, info uint32, seq uint32) {
	rc.pr.icmpAbout(typ, code, info, rc.pr.h.Addr().Addr(), rc.hport, rc.pport, seq)
}

// RFC 5927 §4.1: an error quoting a sequence number outside
// SND.UNA..SND.NXT is counted and ignored; one inside is taken, and on an
// established connection it is a soft error that changes nothing yet.
func TestICMPOutOfWindow(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(5001, 1000, synOpts(1))
	_, err := rc.s.SendMsg(pattern(100, 1), 0)
	require.NoError(t, err)
	d := rc.expect(stacktest.PayloadLen(100))

	du, port := header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable
	for _, seq := range []uint32{d.Seq - 1, d.Seq + 101, d.Seq + 1<<30} {
		rc.icmp(du, port, 0, seq)
	}
	st := pr.tcp().Stats()
	assert.EqualValues(t, 3, st.OutOfWindowICMPs.Load())
	assert.EqualValues(t, 3, pr.drops(stat.DropICMPErrorOutOfWindow))
	assert.Zero(t, rc.s.ErrSoft)

	rc.icmp(du, port, 0, d.Seq+100) // SND.NXT itself is in window
	assert.Equal(t, syscall.ECONNREFUSED, rc.s.ErrSoft, "a soft error")
	assert.Equal(t, sock.Established, rc.s.State())
	assert.NoError(t, rc.s.SockError(), "not reported while the connection lives")
	rc.send(fACK, nil)
	assert.Zero(t, rc.s.ErrSoft, "forgotten once data is acknowledged")
	assert.EqualValues(t, 1, st.ICMPErrors.Load())
}

// RFC 1122 §4.2.3.9: a host unreachable on an established connection is
// reported only when the connection then times out, in place of
// ETIMEDOUT.
func TestICMPSoftErrorOnTimeout(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(5002, 1000, synOpts(1))
	require.NoError(t, rc.s.SetSockOpt(syscall.IPPROTO_TCP, sock.TCP_USER_TIMEOUT, 3000))
	_, err := rc.s.SendMsg(pattern(100, 2), 0)
	require.NoError(t, err)
	d := rc.expect(stacktest.PayloadLen(100))
	rc.icmp(header.ICMPv4DestUnreachable, header.ICMPv4HostUnreachable, 0, d.Seq)

	_, err = rc.s.RecvMsg(make([]byte, 10), 0)
	assert.ErrorIs(t, err, syscall.EAGAIN, "reads do not see the soft error")
	_, err = rc.s.SendMsg(pattern(10, 3), 0)
	assert.NoError(t, err, "nor do writes")
	for i := 0; rc.s.State() != sock.Closed; i++ {
		require.Less(t, i, 100, "the connection never timed out")
		pr.advance(500 * time.Millisecond)
		pr.drain()
	}
	assert.ErrorIs(t, rc.s.SockError(), syscall.EHOSTUNREACH)
}

// In SYN-SENT a port unreachable ends the attempt with ECONNREFUSED
// (tcp_v4_err); an error quoting another host's segment changes nothing.
func TestICMPSynSentRefused(t *testing.T) {
	pr := newPeer(t)
	rec := &recorder{}
	s := dial(t, pr.h, netip.AddrPortFrom(pr.addr, 5003))
	s.Callbacks = rec
	pr.poll(1)
	syn := pr.expect(stacktest.Flags(fSYN))

	other := netip.MustParseAddr("198.18.1.77")
	pr.icmpAbout(header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable, 0, other, syn.SrcPort, syn.DstPort, syn.Seq)
	assert.Equal(t, sock.SynSent, s.State())
	assert.EqualValues(t, 1, pr.drops(stat.DropICMPQuoteNotOurs))

	pr.icmpAbout(header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable, 0, pr.h.Addr().Addr(), syn.SrcPort+1, syn.DstPort, syn.Seq)
	assert.EqualValues(t, 1, pr.drops(stat.DropICMPErrorNoSocket))

	pr.icmpAbout(header.ICMPv4DestUnreachable, header.ICMPv4PortUnreachable, 0, pr.h.Addr().Addr(), syn.SrcPort, syn.DstPort, syn.Seq)
	assert.Equal(t, sock.Closed, s.State())
	assert.NotZero(t, rec.errs)
	assert.ErrorIs(t, s.SockError(), syscall.ECONNREFUSED)
	assert.EqualValues(t, 1, pr.tcp().Stats().AttemptFails.Load())
	pr.expectNone()
}

// receive plays a receiver behind a path of MTU pathMTU that silently
// drops bigger packets, while the socket writes rest, the part of the n
// bytes not yet written: it acknowledges what arrives in order, advancing
// the clock when nothing comes, until n bytes arrived, and returns them
// with the largest segment that got through.
func (rc *rawConn) receive(n int, rest []byte, pathMTU int) ([]byte, int) {
	pr := rc.pr
	pr.t.Helper()
	start := rc.ack
	out := make([]byte, 0, n)
	largest := 0
	for i := 0; len(out) < n; i++ {
		require.Less(pr.t, i, 2000, "only %d of %d bytes came", len(out), n)
		if len(rest) > 0 {
			k, err := rc.s.SendMsg(rest, 0)
			if err != syscall.EAGAIN {
				require.NoError(pr.t, err)
				rest = rest[k:]
			}
		}
		pr.poll(2)
		if len(pr.inbox) == 0 {
			pr.advance(300 * time.Millisecond)
			continue
		}
		for _, r := range pr.inbox {
			if r.IPTotalLen > pathMTU {
				continue // the black hole
			}
			largest = max(largest, len(r.Payload))
			off := int(r.Seq - start)
			if len(r.Payload) > 0 && off <= len(out) && off+len(r.Payload) > len(out) {
				out = append(out, r.Payload[len(out)-off:]...)
			}
			if r.Options.HasTS {
				rc.tsEcr = r.Options.TSVal
			}
		}
		pr.inbox = pr.inbox[:0]
		rc.ack = start + uint32(len(out))
		rc.send(fACK, nil)
	}
	return out, largest
}

// Fragmentation Needed about a segment in flight, handled as Linux does
// (__ip_rt_update_pmtu, tcp_v4_mtu_reduced): a plausible MTU lowers the
// path MTU and the MSS, and what was in flight is resent at once,
// resegmented; 0, 40 and 68 set the 552 floor and lock it; an MTU above
// the current one changes nothing. The transfer completes byte-exact.
func TestFragNeeded(t *testing.T) {
	const mss = 1500 - 40 - 12 // timestamps on every segment
	cases := []struct {
		mtu      int
		pmtu     int // 0: no path MTU learnt
		locked   bool
		newMSS   int
		resegged bool
	}{
		{mtu: 1280, pmtu: 1280, newMSS: 1280 - 52, resegged: true},
		{mtu: 0, pmtu: route.MinPMTU, locked: true, newMSS: route.MinPMTU - 52, resegged: true},
		{mtu: 40, pmtu: route.MinPMTU, locked: true, newMSS: route.MinPMTU - 52, resegged: true},
		{mtu: 68, pmtu: route.MinPMTU, locked: true, newMSS: route.MinPMTU - 52, resegged: true},
		{mtu: 1600, newMSS: mss},
	}
	for _, c := range cases {
		t.Run("", func(t *testing.T) {
			pr := newPeer(t)
			base := stacktest.InUse(pr.h)
			rc := pr.dial(5004, 1000, synOpts(1))
			data := pattern(64*1024, c.mtu)
			n, err := rc.s.SendMsg(data, 0)
			require.NoError(t, err)
			first := rc.expect(stacktest.PayloadLen(mss))
			pr.drain()

			rc.icmp(header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded, uint32(c.mtu), first.Seq)
			pmtu, locked, ok := pr.h.Stacks()[0].Routes().PMTU(pr.addr)
			assert.Equal(t, c.pmtu != 0, ok)
			assert.Equal(t, c.pmtu, pmtu)
			assert.Equal(t, c.locked, locked)
			assert.Equal(t, c.newMSS, rc.s.Info().MSS)
			if c.resegged {
				require.NotEmpty(t, pr.inbox, "resent at once")
				assert.Equal(t, first.Seq, pr.inbox[0].Seq)
				assert.Len(t, pr.inbox[0].Payload, c.newMSS)
				assert.EqualValues(t, 1, pr.tcp().Stats().PMTUReductions.Load())
			} else {
				assert.Empty(t, pr.inbox, "nothing resent")
			}
			pr.drain()
			rc.ack = first.Seq // the first segment was lost
			got, largest := rc.receive(len(data), data[n:], max(c.pmtu, 1500))
			assert.Equal(t, data, got)
			assert.LessOrEqual(t, largest, c.newMSS)
			rc.s.Close()
			pr.poll(4)
			pr.drain()
			pr.tcp().Close()
			assert.Equal(t, base, stacktest.InUse(pr.h), "mbufs in use")
		})
	}
}

// RFC 4821 black hole detection: a path that drops segments bigger than
// 1280 bytes and the ICMP that would say so. After retries1 timeouts the
// MSS falls to 1024; probes then search upwards and settle the MSS where
// a segment fills the 1280 bytes exactly, and the transfer completes
// byte-exact.
func TestMTUBlackHole(t *testing.T) {
	pr := newPeer(t)
	rc := pr.dial(5005, 1000, synOpts(1))
	data := pattern(512*1024, 9)
	n, err := rc.s.SendMsg(data, 0)
	require.NoError(t, err)
	got, largest := rc.receive(len(data), data[n:], 1280)
	assert.Equal(t, data, got)
	const fits = 1280 - 52 // timestamps on every segment
	assert.Equal(t, fits, largest)
	assert.Equal(t, fits, rc.s.Info().MSS)
	st := pr.tcp().Stats()
	assert.EqualValues(t, 1, st.MTUProbeBlackHoles.Load())
	assert.NotZero(t, st.MTUProbeFailures.Load(), "the first probe, 1288 bytes, is lost")
	assert.NotZero(t, st.MTUProbeSuccesses.Load())
	_, _, ok := pr.h.Stacks()[0].Routes().PMTU(pr.addr)
	assert.False(t, ok, "the route learns nothing")
}

// tcp_req_err: an error about a SYN-ACK must quote the ISS exactly; a
// host unreachable drops the request silently, a port unreachable
// changes nothing. An error for a TIME-WAIT connection is ignored.
func TestICMPRequestAndTimeWait(t *testing.T) {
	pr := newPeer(t)
	l := listen(t, pr.h, 5006, 8)
	pr.send(stacktest.Segment{SrcPort: 6000, DstPort: 5006, Seq: 100, Flags: fSYN, Window: 65535, Options: synOpts(1)})
	sa := pr.expect(stacktest.Flags(fSYN | fACK))
	host := pr.h.Addr().Addr()
	du := header.ICMPv4DestUnreachable

	pr.icmpAbout(du, header.ICMPv4HostUnreachable, 0, host, 5006, 6000, sa.Seq+1)
	assert.EqualValues(t, 1, pr.tcp().Stats().OutOfWindowICMPs.Load())
	pr.icmpAbout(du, header.ICMPv4PortUnreachable, 0, host, 5006, 6000, sa.Seq)
	assert.EqualValues(t, 1, pr.drops(stat.DropICMPErrorIgnored))
	_, reqs, _, _ := pr.tcp().Counts()
	require.Equal(t, 1, reqs)
	pr.icmpAbout(du, header.ICMPv4HostUnreachable, 0, host, 5006, 6000, sa.Seq)
	_, reqs, _, _ = pr.tcp().Counts()
	assert.Zero(t, reqs, "the request is gone")
	assert.EqualValues(t, 1, pr.tcp().Stats().ListenDrops.Load())
	_, err := l.AcceptSock()
	assert.ErrorIs(t, err, syscall.EAGAIN, "accept reports nothing")

	rc := pr.accept(l, 6001, 500, synOpts(1))
	rc.s.Close()
	fin := rc.expect(stacktest.Flags(fFIN | fACK))
	rc.send(fFIN|fACK, nil)
	rc.expect(stacktest.Flags(fACK))
	st, ok := pr.tcp().StateOf(netip.AddrPortFrom(host, 5006), netip.AddrPortFrom(pr.addr, 6001))
	require.True(t, ok)
	require.Equal(t, sock.TimeWait, st)
	pr.icmpAbout(du, header.ICMPv4PortUnreachable, 0, host, 5006, 6001, fin.Seq)
	assert.EqualValues(t, 2, pr.drops(stat.DropICMPErrorIgnored))
	st, _ = pr.tcp().StateOf(netip.AddrPortFrom(host, 5006), netip.AddrPortFrom(pr.addr, 6001))
	assert.Equal(t, sock.TimeWait, st)
}

// FuzzICMPError feeds ICMP errors built from fuzzed fields (type, code,
// next-hop MTU, quoted sequence number relative to SND.UNA) to a
// connection with data in flight, in each of fuzzStates, with time
// passing between them: no panic, no hang, and every mbuf back when the
// host closes (the peer's cleanup checks the pool). Its seeds run with
// make test.
func FuzzICMPError(f *testing.F) {
	// An error: type, code, MTU (2), seq delta (4).
	enc := func(typ, code uint8, mtu uint16, dseq int32) []byte {
		b := []byte{typ, code}
		b = binary.BigEndian.AppendUint16(b, mtu)
		return binary.BigEndian.AppendUint32(b, uint32(dseq))
	}
	du, fn := header.ICMPv4DestUnreachable, header.ICMPv4FragNeeded
	for st := range fuzzStates {
		f.Add(byte(st), enc(du, fn, 1280, 0))
		f.Add(byte(st), append(enc(du, fn, 0, 1448), enc(du, fn, 576, 0)...))
		f.Add(byte(st), enc(du, header.ICMPv4PortUnreachable, 0, 0))
		f.Add(byte(st), enc(header.ICMPv4TimeExceeded, 0, 0, -1))
		f.Add(byte(st), enc(header.ICMPv4ParamProblem, 0, 0, 1<<30))
		f.Add(byte(st), enc(du, 200, 0, 0))
	}
	f.Fuzz(func(t *testing.T, state byte, in []byte) {
		if len(in) > 512 {
			return
		}
		rc := established(t)
		_, err := rc.s.SendMsg(pattern(20000, 1), 0)
		require.NoError(t, err)
		una := rc.ack
		fuzzStates[int(state)%len(fuzzStates)](rc)
		rc.pr.poll(2)
		for ; len(in) >= 8; in = in[8:] {
			seq := una + binary.BigEndian.Uint32(in[4:8])
			rc.icmp(in[0], in[1], uint32(binary.BigEndian.Uint16(in[2:4])), seq)
			rc.pr.advance(50 * time.Millisecond)
		}
		rc.pr.advance(time.Second)
		if rc.state() != sock.Closed && !rc.s.Dead {
			rc.s.Close()
		}
		rc.pr.advance(time.Second)
	})
}
