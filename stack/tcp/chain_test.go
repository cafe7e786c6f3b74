package tcp_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/sock"
	"github.com/dpstack/dpstack/stack/stacktest"
	"github.com/dpstack/dpstack/stat"
)

// Received chains (chain.go): a segment spread over several mbufs, as a
// port that scatters jumbo frames over small buffers delivers it.

// hdrLen is the length of the headers before a segment's payload in the
// raw peer's frames: Ethernet, IPv4 and TCP with the timestamp option.
const hdrLen = header.EthernetLen + header.IPv4MinLen + header.TCPMinLen + 12

// injectChain sends frame into the host as a chain of mbufs cut at the
// given offsets of the frame, in increasing order, none more than an
// mbuf apart.
func (pr *peer) injectChain(frame []byte, cuts ...int) {
	pr.t.Helper()
	var head, last *mbuf.Buf
	from := 0
	for _, to := range append(cuts, len(frame)) {
		b := pr.pool.Alloc()
		require.NotNil(pr.t, b)
		d := b.Put(to - from)
		require.NotNil(pr.t, d, "an mbuf holds %d bytes at most", b.Tailroom())
		copy(d, frame[from:to])
		from = to
		if head == nil {
			head, last = b, b
			continue
		}
		last = head.AppendSeg(last, b)
		require.NotNil(pr.t, last)
	}
	require.Equal(pr.t, len(cuts)+1, head.Segments())
	require.Equal(pr.t, 1, pr.rp.A.TxBurst(0, []*mbuf.Buf{head}))
}

// establishedEmpty is established with its "hello" read, and the pool's
// in-use count once the core has freed it: the tests' baseline.
func establishedEmpty(t *testing.T) (*rawConn, int) {
	rc := established(t)
	_, err := rc.s.RecvMsg(make([]byte, 5), 0)
	require.NoError(t, err)
	rc.pr.poll(2)
	return rc, rc.pr.pool.InUse()
}

// sendChain sends data from the peer as one segment at seq (the peer's
// sequence numbers move on only when seq is rc.seq), cut into a chain
// at the given offsets of its payload, and runs the host.
func (rc *rawConn) sendChain(seq uint32, data []byte, cuts ...int) {
	rc.pr.t.Helper()
	s := rc.seg(fACK|fPSH, data)
	s.Seq = seq
	frame := rc.pr.frame(s)
	require.Len(rc.pr.t, frame, hdrLen+len(data))
	at := make([]int, len(cuts))
	for i, c := range cuts {
		at[i] = hdrLen + c
	}
	rc.pr.injectChain(frame, at...)
	rc.pr.poll(2)
	if seq == rc.seq {
		rc.seq += uint32(len(data))
	}
}

// TestChainInOrder: in-order chains, cut at odd offsets, at the header's
// end (an empty first mbuf once the header is pulled) and into one-byte
// mbufs, are taken whole: ACKed, read byte-exact by MSG_PEEK and then
// recvmsg, every mbuf back in the pool.
func TestChainInOrder(t *testing.T) {
	rc, base := establishedEmpty(t)
	pr := rc.pr
	var want []byte
	for i, cuts := range [][]int{{1, 1500}, {0, 1001, 1002, 1003, 2500}, {333, 777, 1999}, {0, 1800}} {
		data := pattern(3001+i, i)
		want = append(want, data...)
		rc.sendChain(rc.seq, data, cuts...)
	}
	assert.Equal(t, rc.seq, rc.s.Info().RcvNxt, "all taken")
	assert.Zero(t, pr.drops(stat.DropTCPSplitHeader))
	require.Equal(t, len(want), rc.s.Info().RecvQueue)

	peek := make([]byte, len(want))
	n, err := rc.s.RecvMsg(peek, sock.MsgPeek)
	require.NoError(t, err)
	assert.Equal(t, want, peek[:n], "MSG_PEEK")
	got := make([]byte, len(want))
	n, err = rc.s.RecvMsg(got[:1234], 0)
	require.NoError(t, err)
	m, err := rc.s.RecvMsg(got[n:], 0)
	require.NoError(t, err)
	assert.Equal(t, want, got[:n+m], "recvmsg")
	pr.poll(2) // the core's frees go back at the end of its turn
	assert.Equal(t, base, pr.pool.InUse(), "every mbuf freed")
}

// TestChainReadView: the callback API's zero-copy view of a chain is one
// slice per mbuf that holds data, in order; a partial consume leaves the
// rest for the next call.
func TestChainReadView(t *testing.T) {
	rc, base := establishedEmpty(t)
	pr := rc.pr
	data := pattern(5000, 3)
	rc.sendChain(rc.seq, data, 0, 1500, 1501, 3000, 4000)
	var views []int
	var got []byte
	n := rc.s.ReadView(func(p []byte) int {
		views = append(views, len(p))
		k := min(len(p), 1000) // the first view taken in part
		if len(views) > 1 {
			k = len(p)
		}
		got = append(got, p[:k]...)
		return k
	})
	assert.Equal(t, 1000, n, "stopped at the partial consume")
	n = rc.s.ReadView(func(p []byte) int {
		views = append(views, len(p))
		got = append(got, p...)
		return len(p)
	})
	assert.Equal(t, len(data)-1000, n)
	assert.Equal(t, []int{1500, 500, 1, 1499, 1000, 1000}, views, "one view per mbuf with data")
	assert.Equal(t, data, got)
	pr.poll(2) // the core's frees go back at the end of its turn
	assert.Equal(t, base, pr.pool.InUse())
}

// TestChainOutOfOrder: chains that arrive out of order are queued,
// SACKed by their whole range, trimmed against their neighbours and the
// left edge across mbuf boundaries (duplicates D-SACKed), and read
// byte-exact when the hole fills.
func TestChainOutOfOrder(t *testing.T) {
	rc, base := establishedEmpty(t)
	pr := rc.pr
	start := rc.seq
	data := pattern(12000, 9)
	seg := func(from, to int, cuts ...int) { rc.sendChain(start+uint32(from), data[from:to], cuts...) }

	seg(4000, 8000, 1, 1001, 2001, 3001, 3999)
	r := rc.expect(stacktest.Flags(fACK), stacktest.Ack(start))
	require.Equal(t, 1, r.Options.NumSACK)
	assert.Equal(t, header.SACKBlock{Start: start + 4000, End: start + 8000}, r.Options.SACKBlocks[0])

	// Overlaps the queued one's tail and runs on: the new part kept.
	seg(7000, 10000, 500, 1000, 1001, 2000)
	r = rc.expect(stacktest.Flags(fACK), stacktest.Ack(start))
	assert.Equal(t, header.SACKBlock{Start: start + 7000, End: start + 8000}, r.Options.SACKBlocks[0], "D-SACK")
	assert.Equal(t, header.SACKBlock{Start: start + 4000, End: start + 10000}, r.Options.SACKBlocks[1])

	// Reaches into the queued one's head: trimmed at its end.
	seg(2000, 5000, 7, 1500, 2999)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(start))

	// The hole, and more already received: taken to the left edge,
	// pulling in the out-of-order queue.
	seg(0, 3000, 1000, 1999)
	rc.expect(stacktest.Flags(fACK), stacktest.Ack(start+10000))
	rc.seq = start + 10000

	// Straddles the left edge: the old part D-SACKed, the new kept.
	seg(9000, 12000, 999, 1000, 2500)
	r = rc.expect(stacktest.Flags(fACK), stacktest.Ack(start+12000))
	assert.Equal(t, header.SACKBlock{Start: start + 9000, End: start + 10000}, r.Options.SACKBlocks[0], "D-SACK")
	rc.seq = start + 12000

	got := make([]byte, len(data)+1)
	n, err := rc.s.RecvMsg(got, 0)
	require.NoError(t, err)
	assert.Equal(t, data, got[:n])
	assert.Zero(t, rc.s.Info().RecvQueue)
	pr.poll(2) // the core's frees go back at the end of its turn
	assert.Equal(t, base, pr.pool.InUse(), "every mbuf freed")
}

// TestChainBad: a chain whose TCP header runs past its first mbuf is
// dropped under its own reason; a chain whose checksum fails in a later
// mbuf is dropped as a bad checksum; neither is ACKed or taken, and both
// are freed.
func TestChainBad(t *testing.T) {
	rc := established(t)
	pr := rc.pr
	base := pr.pool.InUse()
	rcv := rc.s.Info().RcvNxt
	data := pattern(3000, 1)
	s := rc.seg(fACK|fPSH, data)
	frame := pr.frame(s)
	split := pr.drops(stat.DropTCPSplitHeader)
	pr.injectChain(frame, hdrLen-13, hdrLen+100, hdrLen+1600)
	pr.poll(2)
	assert.Equal(t, split+1, pr.drops(stat.DropTCPSplitHeader))
	pr.expectNone()

	bad := pr.drops(stat.DropTCPBadChecksum)
	frame[hdrLen+2500] ^= 0x40
	pr.injectChain(frame, hdrLen+1, hdrLen+1001, hdrLen+2001)
	pr.poll(2)
	assert.Equal(t, bad+1, pr.drops(stat.DropTCPBadChecksum))
	pr.expectNone()
	assert.Equal(t, rcv, rc.s.Info().RcvNxt, "nothing taken")
	pr.poll(2) // the core's frees go back at the end of its turn
	assert.Equal(t, base, pr.pool.InUse(), "freed")
}

// chainCuts turns fuzzed steps into increasing cut offsets of a frame of
// n bytes, adding cuts so that no piece is larger than an mbuf holds.
func chainCuts(n int, steps []byte) []int {
	const most = 1900
	var cuts []int
	pos := 0
	for _, s := range steps {
		next := pos + 1 + int(s)*7
		for next-pos > most {
			pos += most
			cuts = append(cuts, pos)
		}
		if next >= n {
			break
		}
		cuts = append(cuts, next)
		pos = next
	}
	for n-pos > most {
		pos += most
		cuts = append(cuts, pos)
	}
	return cuts
}

// FuzzChain feeds an established connection segments of fuzzed offsets
// into one stream and fuzzed lengths, each cut into a chain at fuzzed
// places (in the headers too), reading between them: no panic, what
// recvmsg returns is the stream's bytes from its start, and every mbuf
// comes back (the peer's cleanup checks the pool). Its seeds run with
// make test.
func FuzzChain(f *testing.F) {
	// A segment: offset (2), length (2), number of cuts, the cuts' steps.
	f.Add([]byte{0, 0, 11, 184, 3, 0, 200, 5})
	f.Add([]byte{15, 160, 7, 208, 2, 1, 1, 0, 0, 15, 160, 1, 50, 30, 20, 10, 0, 4, 0, 0, 0})
	f.Add([]byte{0, 100, 35, 40, 1, 6, 0, 0, 0, 100, 0, 9, 1, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 512 {
			return
		}
		rc := established(t)
		_, err := rc.s.RecvMsg(make([]byte, 5), 0)
		require.NoError(t, err)
		start := rc.seq
		data := pattern(1<<16, 7)
		var got []byte
		buf := make([]byte, 1<<16)
		for len(in) >= 5 {
			off := int(binary.BigEndian.Uint16(in)) % 60000
			n := int(binary.BigEndian.Uint16(in[2:]))%5000 + 1
			k := min(int(in[4])%8, len(in)-5)
			steps := in[5 : 5+k]
			in = in[5+k:]
			s := rc.seg(fACK|fPSH, data[off:off+n])
			s.Seq = start + uint32(off)
			frame := rc.pr.frame(s)
			rc.pr.injectChain(frame, chainCuts(len(frame), steps)...)
			rc.pr.poll(2)
			if m, err := rc.s.RecvMsg(buf, 0); err == nil {
				got = append(got, buf[:m]...)
			}
		}
		require.True(t, bytes.Equal(data[:len(got)], got), "the stream's bytes from its start")
		rc.pr.advance(time.Second)
		rc.s.Close()
		rc.pr.advance(time.Second)
	})
}
