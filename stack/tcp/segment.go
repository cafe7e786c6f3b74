package tcp

import (
	"net/netip"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/tcp/seqnum"
	"github.com/dpstack/dpstack/stat"
)

// segment is a received segment parsed once (ARCHITECTURE.md §8;
// gVisor's segment, Linux's tcp_skb_cb on input): every step of input
// reads it. This file holds the parsing and the checksum check, the first
// step of input.
type segment struct {
	b       *mbuf.Buf
	hdr     header.TCP
	tuple   fourTuple // our side first
	src     netip.Addr
	dst     netip.Addr
	seq     seqnum.Value
	ack     seqnum.Value
	wnd     uint32 // the raw Window field
	flags   uint8
	dataLen int
	opts    header.TCPOptions
}

// segLen is SEG.LEN: data plus SYN and FIN (RFC 9293 §3.4).
func (g *segment) segLen() seqnum.Size {
	n := seqnum.Size(g.dataLen)
	if g.flags&header.TCPFlagSYN != 0 {
		n++
	}
	if g.flags&header.TCPFlagFIN != 0 {
		n++
	}
	return n
}

// end is SEG.SEQ + SEG.LEN.
func (g *segment) end() seqnum.Value { return g.seq.Add(g.segLen()) }

// parse fills g from b and ip, or drops b and reports false. The checks
// are made once (ARCHITECTURE.md §8): a header of at least 20 bytes whose Data Offset
// is at least 5 words and within the segment (RFC 9293 §3.1), the
// checksum (RFC 9293 §3.1, MUST-2/3: a bad one is dropped silently), no SYN
// with FIN, and a well-formed option list (RFC 9293 §3.1 MUST-7). b may
// be a chain whose first mbuf holds the header (chain.go).
func (p *Proto) parse(g *segment, b *mbuf.Buf, ip header.IPv4) bool {
	data := b.Bytes()
	if b.Len() < header.TCPMinLen {
		p.stats.InErrs.Inc()
		p.drop(b, stat.DropTCPTruncated)
		return false
	}
	h, ok := header.ParseTCP(data)
	if !ok {
		p.stats.InErrs.Inc()
		if headerSplit(b, data) {
			p.drop(b, stat.DropTCPSplitHeader)
		} else {
			p.drop(b, stat.DropTCPBadOffset)
		}
		return false
	}
	src, dst := ip.SrcUint32(), ip.DstUint32()
	if !checksumOK(b, h, src, dst) {
		p.stats.InErrs.Inc()
		p.stats.InCsumErrors.Inc()
		p.drop(b, stat.DropTCPBadChecksum)
		return false
	}
	flags := h.Flags()
	if flags&(header.TCPFlagSYN|header.TCPFlagFIN) == header.TCPFlagSYN|header.TCPFlagFIN {
		// Never legal (RFC 9293 §3.10.7: a SYN's FIN has no sequence
		// number of its own to acknowledge); Linux drops it in LISTEN
		// and scanners use it for fingerprinting.
		p.stats.InErrs.Inc()
		p.drop(b, stat.DropTCPBadFlags)
		return false
	}
	if !header.ParseTCPOptions(h.Options(), &g.opts) {
		p.stats.InErrs.Inc()
		p.drop(b, stat.DropTCPBadOptions)
		return false
	}
	g.b = b
	g.hdr = h
	g.src, g.dst = ip.Src(), ip.Dst()
	g.tuple = fourTuple{laddr: dst, raddr: src, lport: h.DstPort(), rport: h.SrcPort()}
	g.seq = seqnum.Value(h.SeqNum())
	g.ack = seqnum.Value(h.AckNum())
	g.wnd = uint32(h.Window())
	g.flags = flags
	g.dataLen = b.Len() - h.DataOffset()
	return true
}

// checksumOK verifies the TCP checksum over the pseudo header (RFC 9293
// §3.1), trusting the port when it checked (RTE_MBUF_F_RX_L4_CKSUM_GOOD,
// or _NONE: data verified, field not) and summing in software otherwise.
// A segment that still asks for its checksum to be filled in
// (RTE_MBUF_F_TX_TCP_CKSUM) came from a dpstack host over a link of memory
// that offers the offload (dpdk.RingPair.OffloadTCPChecksums): it was never
// exposed to corruption and its field holds only the pseudo header's sum,
// so it is trusted, as Linux trusts CHECKSUM_PARTIAL on receive. No NIC
// hands over a received mbuf with transmit flags. src and dst are the IPv4
// addresses as big-endian uint32 values.
func checksumOK(b *mbuf.Buf, h header.TCP, src, dst uint32) bool {
	if good, known := b.L4Checksum(mbuf.TxTCPCksum); known {
		return good
	}
	if b.Segments() != 1 {
		return chainChecksumOK(b, src, dst)
	}
	return h.IsChecksumValid(header.PseudoHeaderSum4(src, dst, header.IPProtoTCP, uint16(len(h))))
}
