package ipv4

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stat"
)

// fragmentsOf cuts the datagram s into fragments of per data bytes (a
// multiple of 8), as a sender would: s's options go in the first only.
func fragmentsOf(s ipSpec, per int) [][]byte {
	var out [][]byte
	for off := 0; off < len(s.payload); off += per {
		f := s
		end := min(off+per, len(s.payload))
		f.payload, f.fragOff = s.payload[off:end], uint16(off)
		if end < len(s.payload) {
			f.flags |= header.IPv4FlagMF
		}
		if off > 0 {
			f.options = nil
		}
		out = append(out, f.bytes())
	}
	return out
}

// linearFrames returns the frames sent so far, each copied whole across
// its segments, and frees them.
func (e *env) linearFrames() [][]byte {
	var out [][]byte
	for _, b := range e.txq.Frames {
		p := make([]byte, b.Len())
		b.ReadAt(p, 0)
		out = append(out, p)
		e.cache.Free(b)
	}
	e.txq.Frames = e.txq.Frames[:0]
	return out
}

// joinFragments checks the IPv4 fragments of one datagram in frames (in
// the order sent, within mtu, offsets and MF as RFC 791 §3.2 has them) and
// returns its data.
func joinFragments(t *testing.T, frames [][]byte, mtu int) []byte {
	t.Helper()
	var data []byte
	var id uint16
	for i, fr := range frames {
		ip, perr := header.ParseIPv4(fr[header.EthernetLen:])
		require.Equal(t, header.IPv4OK, perr)
		require.True(t, ip.IsChecksumValid())
		require.LessOrEqual(t, len(ip), mtu)
		if i == 0 {
			id = ip.ID()
		}
		require.Equal(t, id, ip.ID())
		require.Equal(t, len(data), int(ip.FragmentOffset()), "fragment %d", i)
		require.Equal(t, i < len(frames)-1, ip.MoreFragments(), "fragment %d", i)
		if i < len(frames)-1 {
			require.Zero(t, len(ip.Payload())%8)
		}
		data = append(data, ip.Payload()...)
	}
	return data
}

// catch registers a handler for testProto that keeps a linear copy of each
// datagram delivered, its IP header and its segment count.
type catch struct {
	data  [][]byte
	hdrs  []header.IPv4
	nsegs []int
	rx    []int64 // receive times
}

func (e *env) catchProto() *catch {
	c := &catch{}
	e.l.RegisterProtocol(testProto, func(b *mbuf.Buf, ip header.IPv4) {
		p := make([]byte, b.Len())
		b.ReadAt(p, 0)
		c.data = append(c.data, p)
		c.hdrs = append(c.hdrs, slices.Clone(ip[:ip.HeaderLen()]))
		c.nsegs = append(c.nsegs, b.Segments())
		ns, _ := b.RxTime()
		c.rx = append(c.rx, ns)
		e.dev.Free(b)
	})
	return c
}

// The kernel's `ping -s 4000`: fragments in order, reversed, shuffled or
// with duplicates all make one echo request, whose reply (larger than the
// MTU) goes back as fragments.
func TestReasmEcho(t *testing.T) {
	orders := map[string]func(f [][]byte) [][]byte{
		"in order": func(f [][]byte) [][]byte { return f },
		"reversed": func(f [][]byte) [][]byte { slices.Reverse(f); return f },
		"shuffled": func(f [][]byte) [][]byte {
			r := rand.New(rand.NewPCG(1, 2))
			r.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
			return f
		},
		"duplicated": func(f [][]byte) [][]byte { return [][]byte{f[0], f[1], f[0], f[1], f[2]} },
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.learnPeer()
			req := echoSpec(4000)
			frags := order(fragmentsOf(req, 1480))
			for _, f := range frags {
				e.l.Input(e.mbuf(f))
			}
			st := e.l.Stats()
			assert.Equal(t, uint64(len(frags)), st.ReasmReqds.Load())
			assert.Equal(t, uint64(1), st.ReasmOKs.Load())
			assert.Equal(t, uint64(1), st.ICMPOutEchoReplies.Load())
			assert.Equal(t, uint64(len(frags)-3), e.dev.Drops.Get(stat.DropIPFragDuplicate))
			assert.Equal(t, uint64(len(frags)-3), e.totalDrops())
			assert.Zero(t, st.ReasmMbufs.Load())

			frames := e.linearFrames()
			require.Len(t, frames, 3, "4,028 bytes in 1,500-byte fragments")
			reply := joinFragments(t, frames, 1500)
			want := slices.Clone(req.payload)
			want[0] = header.ICMPv4EchoReply
			icmp := header.ICMPv4(reply)
			require.True(t, icmp.IsChecksumValid())
			want[2], want[3] = reply[2], reply[3]
			assert.Equal(t, want, reply)
			assert.Equal(t, uint64(1), st.FragOKs.Load())
			assert.Equal(t, uint64(3), st.FragCreates.Load())
			e.requireNoLeak()
		})
	}
}

// Overlapping fragments discard the whole datagram, queued fragments
// included; a fragment of the same datagram arriving later starts over.
func TestReasmOverlap(t *testing.T) {
	e := newEnv(t, 0)
	c := e.catchProto()
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(3000)}
	frags := fragmentsOf(s, 1480)
	e.l.Input(e.mbuf(frags[0]))
	over := s
	over.payload, over.fragOff, over.flags = s.payload[1472:2952], 1472, header.IPv4FlagMF
	e.l.Input(e.mbuf(over.bytes()))
	st := e.l.Stats()
	assert.Equal(t, uint64(1), st.ReasmOverlaps.Load())
	assert.Equal(t, uint64(1), st.ReasmFails.Load())
	assert.Equal(t, uint64(2), e.dev.Drops.Get(stat.DropIPFragOverlap))
	assert.Zero(t, st.ReasmMbufs.Load())
	for _, f := range frags[1:] {
		e.l.Input(e.mbuf(f))
	}
	assert.Empty(t, c.data, "the first fragment went with the overlap")
	assert.Equal(t, int64(2), st.ReasmMbufs.Load())
	e.l.FlushFragments()
	e.requireNoLeak()
}

// A datagram whose fragments stop coming is discarded after DefaultReasmTimeout,
// and the sender hears of it when its first fragment had arrived.
func TestReasmTimeout(t *testing.T) {
	for _, first := range []bool{true, false} {
		t.Run(map[bool]string{true: "first arrived", false: "first missing"}[first], func(t *testing.T) {
			e := newEnv(t, 0)
			e.learnPeer()
			frags := fragmentsOf(echoSpec(4000), 1480)
			if !first {
				frags[0] = frags[2]
			}
			e.l.Input(e.mbuf(frags[0]))
			e.l.Input(e.mbuf(frags[1]))
			e.now = e.now.Add(DefaultReasmTimeout - time.Millisecond)
			e.wheel.Advance(e.now, 100)
			assert.Zero(t, e.l.Stats().ReasmTimeout.Load(), "not yet")
			e.now = e.now.Add(time.Millisecond)
			e.wheel.Advance(e.now, 100)
			st := e.l.Stats()
			assert.Equal(t, uint64(1), st.ReasmTimeout.Load())
			assert.Equal(t, uint64(1), st.ReasmFails.Load())
			assert.Equal(t, uint64(2), e.dev.Drops.Get(stat.DropIPFragTimeout))
			frames := e.linearFrames()
			if !first {
				assert.Empty(t, frames)
				e.requireNoLeak()
				return
			}
			require.Len(t, frames, 1)
			ip, _ := header.ParseIPv4(frames[0][header.EthernetLen:])
			assert.Equal(t, peerAddr, ip.Dst())
			icmp := header.ICMPv4(ip.Payload())
			assert.Equal(t, header.ICMPv4TimeExceeded, icmp.Type())
			assert.Equal(t, header.ICMPv4ReassemblyExceeded, icmp.Code())
			quote := header.IPv4(icmp[header.ICMPv4MinLen:])
			assert.True(t, quote.MoreFragments())
			assert.Zero(t, quote.FragmentOffset())
			assert.Equal(t, frags[0][:len(quote)], []byte(quote), "quotes the first fragment")
			assert.Equal(t, uint64(1), st.ICMPOutTimeExcds.Load())
			e.requireNoLeak()
		})
	}
}

// Options on the first fragment are the datagram's; the data is delivered
// as a chain, byte for byte.
func TestReasmOptionsOnFirst(t *testing.T) {
	e := newEnv(t, 0)
	c := e.catchProto()
	opts := []byte{0x94, 4, 0, 0, 1, 1, 1, 0} // Router Alert, NOOPs, End
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, options: opts, payload: echoData(2500)}
	for _, f := range fragmentsOf(s, 1472) {
		e.l.Input(e.mbuf(f))
	}
	require.Len(t, c.data, 1)
	assert.Equal(t, s.payload, c.data[0])
	assert.Equal(t, 2, c.nsegs[0], "one segment per fragment, nothing copied")
	ip := c.hdrs[0]
	assert.Equal(t, opts, []byte(ip.Options()))
	assert.Equal(t, 28+2500, int(ip.TotalLen()))
	assert.False(t, ip.IsFragment())
	assert.True(t, ip.IsChecksumValid())
	e.requireNoLeak()
}

// A datagram of more than 65,535 bytes is dropped: here its first
// fragment's 40 bytes of options take it over.
func TestReasmTooBig(t *testing.T) {
	e := newEnv(t, 0)
	c := e.catchProto()
	opts := make([]byte, 40)
	for i := range opts {
		opts[i] = 1
	}
	s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, options: opts, payload: echoData(65512)}
	frags := fragmentsOf(s, 1480)
	for _, f := range frags {
		e.l.Input(e.mbuf(f))
	}
	assert.Empty(t, c.data)
	assert.Equal(t, uint64(len(frags)), e.dev.Drops.Get(stat.DropIPFragTooBig))
	assert.Equal(t, uint64(1), e.l.Stats().ReasmFails.Load())
	e.requireNoLeak()
}

// 5,000 first fragments that never complete: the queues never hold more
// than the high threshold, the oldest go, and an echo still completes.
func TestReasmDangling(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	high := e.l.reasm.high
	require.Equal(t, e.pool.Size()/ReasmPoolShare, high)
	for i := range 5000 {
		s := echoSpec(2000)
		s.id = uint16(i + 1)
		e.l.Input(e.mbuf(fragmentsOf(s, 1480)[0]))
		require.LessOrEqual(t, int(e.l.Stats().ReasmMbufs.Load()), high)
	}
	assert.Greater(t, e.dev.Drops.Get(stat.DropIPFragEvicted), uint64(4000))
	assert.LessOrEqual(t, e.pool.InUse(), high+64, "the cache's spare mbufs aside")
	req := echoSpec(4000)
	req.id = 60000
	for _, f := range fragmentsOf(req, 1480) {
		e.l.Input(e.mbuf(f))
	}
	assert.Len(t, e.linearFrames(), 3, "the echo reply, in fragments")
	e.l.FlushFragments()
	e.requireNoLeak()
}

// A protocol that reads one segment gets its reassembled datagrams copied
// into one mbuf when they fit, and as a chain when they do not.
func TestReasmLinearize(t *testing.T) {
	e := newEnv(t, 0)
	c := e.catchProto()
	e.l.Linearize(testProto)
	for _, n := range []int{1400, 4000} {
		s := ipSpec{src: peerAddr, dst: ourAddr, proto: testProto, ttl: 64, payload: echoData(n), id: uint16(n)}
		for _, f := range fragmentsOf(s, 800) {
			e.l.Input(e.mbuf(f))
		}
	}
	require.Len(t, c.data, 2)
	assert.Equal(t, echoData(1400), c.data[0])
	assert.Equal(t, 1, c.nsegs[0], "copied into one mbuf")
	assert.True(t, c.hdrs[0].IsChecksumValid())
	assert.Equal(t, echoData(4000), c.data[1])
	assert.Equal(t, 5, c.nsegs[1], "too large for one mbuf: still a chain")
	e.requireNoLeak()
}
