package tcp

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
)

// Received chains. A segment may arrive over several mbufs: a jumbo frame
// that the port scattered over buffers smaller than the frame
// (RTE_ETH_RX_OFFLOAD_SCATTER), or a datagram reassembled from fragments
// (ipv4/reasm.go). Its TCP header must be in the first mbuf (a port
// fills the first buffer before the next, and a pool's buffers hold far
// more than the headers; a segment whose header a fragmenter split is
// dropped, stat.DropTCPSplitHeader, as RFC 1858 advises for tiny
// fragments); the checksum is summed over every segment; trimming
// for the window, for data already received or for the out-of-order
// queue's neighbours works across them (mbuf.PullChain, TrimChain). What
// is queued, in order or out of order, is then taken apart into one
// buffer per mbuf (mbuf.SplitSeg), each with its own sequence range, as
// Linux's receive queue holds skbs: every reader (recvmsg, MSG_PEEK, the
// callback API's ReadView, which so gets one slice per mbuf, splicing and
// forwarding, coalescing and collapsing) sees single segments, and SACK
// and D-SACK count the same bytes either way.

// headerSplit reports whether b, a segment that header.ParseTCP refused
// over its first mbuf's data, is a chain whose header runs past that
// mbuf rather than a segment with a bad Data Offset.
func headerSplit(b *mbuf.Buf, first []byte) bool {
	if b.Segments() == 1 {
		return false
	}
	if len(first) < header.TCPMinLen {
		return true
	}
	off := header.TCP(first).DataOffset()
	return off >= header.TCPMinLen && off <= b.Len()
}

// chainChecksumOK is checksumOK's software sum over a chain: the pseudo
// header and every segment's bytes (RFC 9293 §3.1).
func chainChecksumOK(b *mbuf.Buf, src, dst uint32) bool {
	sum := header.PseudoHeaderSum4(src, dst, header.IPProtoTCP, uint16(b.Len()))
	return header.Fold(ipv4.ChainSum(b, 0)+sum) == 0
}

// splitPiece takes the first mbuf off chain b, now a packet of its own,
// and returns the rest (nil at the end), which gets b's receive time.
func splitPiece(b *mbuf.Buf) *mbuf.Buf {
	rest := b.SplitSeg()
	if rest != nil {
		rest.CopyRxTime(b)
	}
	return rest
}

// queueChain charges chain b, a segment's in-order data, and puts it on
// the receive queue taken apart into its non-empty mbufs.
func (s *Sock) queueChain(b *mbuf.Buf) {
	for b != nil {
		rest := splitPiece(b)
		if b.Len() == 0 {
			s.proto.free(b)
		} else {
			s.ChargeR(b)
			s.ReceiveQueue.PushBack(b)
		}
		b = rest
	}
}

// insertOFO charges b, the data from seq on and FIN if fin, and puts it on
// the out-of-order queue after at (first when at is nil): one buffer, or
// a chain taken apart into its mbufs, each with its own range, the last
// carrying the FIN. Empty mbufs are freed, except one that carries the
// FIN.
func (s *Sock) insertOFO(at, b *mbuf.Buf, seq seqnum.Value, fin bool) {
	for b != nil {
		rest := splitPiece(b)
		n := b.Len()
		if n == 0 && (rest != nil || !fin) {
			s.proto.free(b)
			b = rest
			continue
		}
		c := cbOf(b)
		c.seq, c.endSeq = seq, seq.Add(seqnum.Size(n))
		c.flags = 0
		if rest == nil && fin {
			c.flags = flagFIN
		}
		seq = c.endSeq
		s.ChargeR(b)
		s.ofo.InsertAfter(at, b)
		at = b
		b = rest
	}
}
