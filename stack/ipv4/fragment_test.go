package ipv4

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
)

// chainOf returns a packet of len(data) bytes in segments of seg bytes.
func (e *env) chainOf(data []byte, seg int) *mbuf.Buf {
	var head *mbuf.Buf
	for off := 0; off < len(data); off += seg {
		b := e.cache.Get()
		require.NotNil(e.t, b)
		copy(b.Put(min(seg, len(data)-off)), data[off:])
		if head == nil {
			head = b
		} else {
			require.True(e.t, head.Chain(b))
		}
	}
	return head
}

// A datagram over the MTU without DF goes out as fragments that carry the
// datagram's own buffers, and our reassembly puts them back together byte
// for byte.
func TestFragmentOutput(t *testing.T) {
	for _, feat := range []netdev.Features{0, netdev.TxIPv4Cksum} {
		t.Run(map[bool]string{false: "software checksum", true: "checksum offload"}[feat != 0], func(t *testing.T) {
			e := newEnv(t, feat)
			e.learnPeer()
			c := e.catchProto()
			data := echoData(4500)
			// Segments of 1,100 bytes: fragments cross their boundaries.
			b := e.chainOf(data, 1100)
			var segs [][]byte
			for s := b; s != nil; s = s.Next() {
				segs = append(segs, s.Bytes())
			}
			e.l.output(b, e.lookup(), testProto, ourAddr, peerAddr, 0, 64, 0, nil)

			sizes := []int{1480, 1480, 1480, 60}
			require.Len(t, e.txq.Frames, len(sizes))
			off := 0
			for i, f := range e.txq.Frames {
				// The header in a fresh mbuf, the data in clones of the
				// datagram's segments.
				assert.Equal(t, header.EthernetLen+header.IPv4MinLen, f.SegLen())
				n := 0
				for s := f.Next(); s != nil; s = s.Next() {
					at := off + n
					src := segs[at/1100][at%1100:]
					assert.Equal(t, unsafe.SliceData(src), unsafe.SliceData(s.Bytes()), "fragment %d shares the data", i)
					n += s.SegLen()
				}
				assert.Equal(t, sizes[i], n)
				if feat != 0 {
					assert.Equal(t, mbuf.TxIPv4|mbuf.TxIPCksum, f.OlFlags())
				}
				off += n
			}
			frames := e.linearFrames()
			if feat != 0 {
				for _, fr := range frames {
					header.IPv4(fr[header.EthernetLen:]).SetChecksumFull()
				}
			}
			assert.Equal(t, data, joinFragments(t, frames, 1500))
			assert.Equal(t, uint64(4), e.l.Stats().FragCreates.Load())
			assert.Equal(t, uint64(1), e.l.Stats().FragOKs.Load())

			// Turned round, the fragments reassemble into the datagram.
			for _, fr := range frames {
				ip := header.IPv4(fr[header.EthernetLen:])
				ip.SetSrc(peerAddr)
				ip.SetDst(ourAddr)
				ip.SetChecksumFull()
				e.l.Input(e.mbuf(ip))
			}
			require.Len(t, c.data, 1)
			assert.Equal(t, data, c.data[0])
			e.requireNoLeak()
		})
	}
}

// Fragments other than the first carry only the options whose copied
// flag is set (RFC 791 §3.1), the others turned into no-operations.
func TestFragmentOptions(t *testing.T) {
	e := newEnv(t, 0)
	e.learnPeer()
	opts := []byte{0x94, 4, 0, 0, 7, 3, 4, 0} // Router Alert (copied), an empty Record Route, End
	s := ipSpec{src: ourAddr, dst: peerAddr, proto: testProto, ttl: 64, options: opts, payload: echoData(1000)}
	b := e.mbuf(s.bytes())
	e.l.fragment(b, e.lookup(), e.dev, 576)
	frames := e.linearFrames()
	require.Len(t, frames, 2, "548 bytes of data a fragment, a multiple of 8")
	first := header.IPv4(frames[0][header.EthernetLen:])
	second := header.IPv4(frames[1][header.EthernetLen:])
	assert.Equal(t, opts, []byte(first.Options()))
	assert.Equal(t, []byte{0x94, 4, 0, 0, 1, 1, 1, 0}, []byte(second.Options()))
	assert.Equal(t, 28+544, len(first))
	assert.Equal(t, uint16(544), second.FragmentOffset())
	assert.Equal(t, s.payload, append(first.Payload(), second.Payload()...))
	e.requireNoLeak()
}

// A transport checksum left to the port is summed before fragmenting: the
// port sees only fragments.
func TestFragmentChecksumHelp(t *testing.T) {
	e := newEnv(t, netdev.TxUDPCksum)
	e.learnPeer()
	udp := echoData(3000)
	udp[6], udp[7] = 0, 0
	pseudo := header.PseudoHeaderSum(ourAddr, peerAddr, header.IPProtoUDP, uint16(len(udp)))
	want := header.Fold(header.Checksum(udp, pseudo))
	f := fold16(pseudo)
	udp[6], udp[7] = byte(f>>8), byte(f)
	b := e.chainOf(udp, 1001) // odd segments: the sum crosses byte lanes
	b.SetOlFlags(mbuf.TxUDPCksum)
	e.l.output(b, e.lookup(), header.IPProtoUDP, ourAddr, peerAddr, 0, 64, 0, nil)
	got := joinFragments(t, e.linearFrames(), 1500)
	assert.Equal(t, want, uint16(got[6])<<8|uint16(got[7]))
	e.requireNoLeak()
}
