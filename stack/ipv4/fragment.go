package ipv4

import (
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/netdev"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// IP option types that fragmentation reads (RFC 791 §3.1, "Options"): the
// end of the list, a no-operation, and the copied flag, set in the types
// of the options that every fragment carries.
const (
	optEnd    = 0
	optNoop   = 1
	optCopied = 0x80
)

// fragment sends datagram b, its IP header ip at the start of its data,
// as fragments of at most mtu bytes (ip_fragment, ip_do_fragment; RFC 791
// §3.2, "An Example Fragmentation Procedure"). Each fragment is a fresh
// mbuf holding a copy of the header, chained to clones of the part of b's
// segments it carries (mbuf.CloneSeg): the data is shared, never copied.
// The data of every fragment but the last is a multiple of 8 bytes; every
// fragment has the datagram's Identification, its offset, and MF but for
// the last; the first carries the datagram's options, the others only
// those with the copied flag (ip_options_fragment). A transport checksum
// left to the port is summed first, since the port sees only fragments.
//
// fragment owns b. When no mbuf is left, the fragments not yet sent are
// given up and b is dropped (stat.DropNoMbuf, ip_frag_fails).
func (l *Layer) fragment(b *mbuf.Buf, dst *route.Dst, dev *netdev.Device, mtu int) {
	ip := header.IPv4(b.Bytes())
	hl := ip.HeaderLen()
	checksumHelp(b, hl)
	per := (mtu - hl) &^ 7
	if per <= 0 {
		// An MTU under 68 bytes, which RFC 791 §3.2 does not allow.
		l.stats.OutDiscards.Inc()
		dev.Drop(b, stat.DropFrameTooBig)
		return
	}
	total := b.Len() - hl
	seg, segOff := b, hl
	for off := 0; off < total; off += per {
		n := min(per, total-off)
		f := dev.Alloc()
		if f == nil {
			l.fragFail(b, dev)
			return
		}
		h := header.IPv4(f.Push(hl))
		copy(h, ip[:hl])
		if off > 0 {
			optionsFragment(h.Options())
		}
		flags := ip.Flags()
		if off+n < total {
			flags |= header.IPv4FlagMF
		}
		h.SetFlags(flags)
		h.SetFragmentOffset(uint16(off))
		h.SetTotalLen(uint16(hl + n))
		for need := n; need > 0; {
			for segOff == seg.SegLen() {
				seg, segOff = seg.Next(), 0
			}
			k := min(need, seg.SegLen()-segOff)
			c := seg.CloneSeg(dev.Cache)
			if c == nil {
				dev.Free(f)
				l.fragFail(b, dev)
				return
			}
			c.Pull(segOff)
			c.Trim(k)
			// A fragment has a few segments, far under DPDK's limit.
			f.Chain(c)
			segOff += k
			need -= k
		}
		headerChecksum(f, dev, h)
		l.stats.FragCreates.Inc()
		dst.Output(f)
	}
	l.stats.FragOKs.Inc()
	dev.Free(b)
}

// fragFail gives up fragmenting b.
func (l *Layer) fragFail(b *mbuf.Buf, dev *netdev.Device) {
	l.stats.FragFails.Inc()
	dev.Drop(b, stat.DropNoMbuf)
}

// optionsFragment turns the options of a fragment other than the first
// into what it must carry (RFC 791 §3.1: an option whose copied flag is
// clear goes in the first fragment only; Linux's ip_options_fragment): each
// such option becomes no-operations of the same length, so that every
// fragment's header keeps the first's length. A malformed list ends the
// walk: output builds the options, and input checks those it receives.
func optionsFragment(opts []byte) {
	for i := 0; i < len(opts); {
		switch t := opts[i]; {
		case t == optEnd:
			return
		case t == optNoop:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return
		}
		if opts[i]&optCopied == 0 {
			for j := i; j < i+n; j++ {
				opts[j] = optNoop
			}
		}
		i += n
	}
}

// Where the checksum field lies in a TCP and a UDP header (RFC 9293 §3.1,
// RFC 768).
const (
	tcpChecksumAt = 16
	udpChecksumAt = 6
)

// checksumHelp completes in software the transport checksum that b, a
// datagram whose transport header starts hl bytes in, left to the port
// (skb_checksum_help): the field holds the pseudo header's sum, as DPDK
// wants it, and gets the checksum of the whole segment, and the offload
// request is withdrawn. A UDP checksum that comes out zero is sent as all
// ones (RFC 768).
func checksumHelp(b *mbuf.Buf, hl int) {
	var at int
	switch b.OlFlags() & mbuf.TxL4Mask {
	case mbuf.TxTCPCksum:
		at = tcpChecksumAt
	case mbuf.TxUDPCksum:
		at = udpChecksumAt
	default:
		return
	}
	p := b.Bytes()
	if len(p) < hl+at+2 {
		return
	}
	c := header.Fold(sumFrom(b, hl))
	if c == 0 && at == udpChecksumAt {
		c = 0xffff
	}
	p[hl+at], p[hl+at+1] = byte(c>>8), byte(c)
	b.SetOlFlags(b.OlFlags() &^ mbuf.TxL4Mask)
}
