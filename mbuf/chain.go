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
