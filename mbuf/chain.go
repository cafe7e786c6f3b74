package mbuf

/*
#include <rte_mbuf.h>
*/
import "C"

// Chains: a packet of several segments (an skb with frags). The head's
// pkt_len and nb_segs describe the whole packet; every segment has its own
// data_len. Of Buf's operations, Len, ReadAt, Chain, Clone, Free and the
// cache's frees see the whole chain; Bytes, Push, Pull, Headroom and
// Tailroom work on the segment they are called on (the head holds the
// headers); Put and Trim refuse chains. What follows builds chains one
// segment at a time, as a transmit path that gathers data does.

// maxSegs is the most segments one packet may have (RTE_MBUF_MAX_NB_SEGS).
const maxSegs = C.RTE_MBUF_MAX_NB_SEGS

// Last is the last segment of b's chain (b itself when it has one).
func (b *Buf) Last() *Buf {
	s := b
	for s.next != nil {
		s = (*Buf)(s.next)
	}
	return s
}

// AppendSeg appends seg, a packet of one segment, after last, the last
// segment of b's chain, and returns seg, the chain's new last segment
// (skb_fill_page_desc's role for a gathered send): b's segment count and
// length grow, and seg is owned by b from then on. Keeping the last
// segment at hand makes building a chain of n segments O(n), where Chain
// walks the whole chain each time. It returns nil, changing nothing, when
// seg has segments of its own or b has the most a packet may have.
func (b *Buf) AppendSeg(last, seg *Buf) *Buf {
	if seg.nb_segs != 1 || seg.next != nil || int(b.nb_segs) >= maxSegs {
		return nil
	}
	last.next = (*C.struct_rte_mbuf)(seg)
	b.nb_segs++
	b.pkt_len += C.uint32_t(seg.data_len)
	return seg
}

// PullChain strips n bytes from the front of the packet, across its
// segments (pskb_pull for a packet with frags), and reports whether it
// had them. Segments it empties stay in the chain with no data, as the
// buffers behind them stay charged (sock.Truesize); SplitSeg hands them
// back one at a time. For a packet of one segment it is Pull.
func (b *Buf) PullChain(n int) bool {
	if n < 0 || n > int(b.pkt_len) {
		return false
	}
	b.pkt_len -= C.uint32_t(n)
	for s := b; n > 0; s = (*Buf)(s.next) {
		k := min(n, int(s.data_len))
		s.data_off += C.uint16_t(k)
		s.data_len -= C.uint16_t(k)
		n -= k
	}
	return true
}

// TrimChain cuts the packet down to n bytes, across its segments
// (pskb_trim), and reports whether the length is now n (it does nothing
// when the packet is shorter). The segments past the new end stay in the
// chain with no data, as PullChain's do.
func (b *Buf) TrimChain(n int) bool {
	if n < 0 || n > int(b.pkt_len) {
		return false
	}
	b.pkt_len = C.uint32_t(n)
	for s := b; s != nil; s = (*Buf)(s.next) {
		k := min(n, int(s.data_len))
		s.data_len = C.uint16_t(k)
		n -= k
	}
	return true
}

// SplitSeg detaches b's first segment from the segments after it and
// returns those as a packet of their own (the next segment its head, with
// the rest's length and count), or nil when b has one segment; b is then
// a packet of one segment. The head's metadata (offload flags, port,
// control block, receive time) stays with b: the new head keeps what its
// own mbuf holds. TCP uses it to queue a received chain as one buffer per
// segment, so that every queue and reader sees single segments.
func (b *Buf) SplitSeg() *Buf {
	rest := (*Buf)(b.next)
	if rest == nil {
		return nil
	}
	rest.nb_segs = b.nb_segs - 1
	rest.pkt_len = b.pkt_len - C.uint32_t(b.data_len)
	b.next = nil
	b.nb_segs = 1
	b.pkt_len = C.uint32_t(b.data_len)
	return rest
}
