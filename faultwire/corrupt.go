package faultwire

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
)

// span is a run of corruptible bytes at an offset in the frame.
type span struct{ off, n int }

// spans are the bytes of a frame that the wire may corrupt: at most two
// runs in the IPv4 header and two in the transport segment.
type spans struct {
	s     [4]span
	k     int
	total int
}

func (s *spans) add(off, n int) {
	if n > 0 {
		s.s[s.k] = span{off, n}
		s.k++
		s.total += n
	}
}

// at maps the i-th corruptible byte to its offset in the frame.
func (s *spans) at(i int) int {
	for _, sp := range s.s[:s.k] {
		if i < sp.n {
			return sp.off + i
		}
		i -= sp.n
	}
	return -1
}

// find fills s with the bytes of frame b whose every bit a receiver's
// checksum is the first check to catch (see the package doc); it leaves s
// empty for a frame that is not a well-formed IPv4 packet. The Ethernet
// and IPv4 headers must be in the first segment.
func (s *spans) find(b *mbuf.Buf) {
	data := b.Bytes()
	eth := header.EthernetLen
	if len(data) < eth+header.IPv4MinLen || header.Ethernet(data).EtherType() != header.EtherTypeIPv4 {
		return
	}
	ip := header.IPv4(data[eth:])
	hl := ip.HeaderLen()
	if ip.Version() != header.IPv4Version || hl < header.IPv4MinLen || len(ip) < hl {
		return
	}
	total := int(ip.TotalLen())
	if total < hl || total > b.Len()-eth {
		return
	}
	s.add(eth+1, 1)      // TOS
	s.add(eth+4, hl-4)   // ID, flags, fragment offset, TTL, protocol, checksum, addresses, options
	if ip.IsFragment() { // no transport header to rely on: the IPv4 header only
		return
	}
	l4, n := eth+hl, total-hl
	switch ip.Protocol() {
	case header.IPProtoICMP:
		if n >= header.ICMPv4MinLen {
			s.add(l4, n)
		}
	case header.IPProtoTCP:
		if n >= header.TCPMinLen {
			s.add(l4, 12) // ports, sequence and acknowledgment numbers
			s.add(l4+13, n-13)
		}
	case header.IPProtoUDP:
		var sum [2]byte
		if n >= header.UDPLen && b.ReadAt(sum[:], l4+6) == 2 && binary.BigEndian.Uint16(sum[:]) != 0 {
			s.add(l4, 4) // ports
			s.add(l4+header.UDPLen, n-header.UDPLen)
		}
	}
}

// corrupt flips one bit of b where a checksum catches it and returns the
// packet to send on: b itself, or a private copy of it when b's data is
// shared (a clone, or cloned), since the flip must not reach another
// holder of the data. A frame with nothing to corrupt goes on unchanged.
func (w *Wire) corrupt(d *direction, b *mbuf.Buf) *mbuf.Buf {
	var s spans
	s.find(b)
	if s.total == 0 {
		return b
	}
	bit := int(below(d.rng[streamCorrupt], uint64(s.total)*8))
	if shared(b) {
		c := w.copyPacket(b)
		if c == nil {
			d.st.noMbuf++
			return b
		}
		w.cache.Free(b)
		b = c
	}
	flipBit(b, s.at(bit/8), uint(bit%8))
	// A port's verdict on the original would be stale: make the receiver
	// sum the packet itself.
	b.SetOlFlags(b.OlFlags() &^ (mbuf.RxIPCksumMask | mbuf.RxL4CksumMask))
	d.st.corrupted++
	return b
}

// shared reports whether any segment of b shares its data buffer.
func shared(b *mbuf.Buf) bool {
	for s := b; s != nil; s = s.Next() {
		if s.RefCount() > 1 {
			return true
		}
	}
	return false
}

// flipBit flips bit (0 is the least significant) of the byte at offset off
// of the packet, across segments.
func flipBit(b *mbuf.Buf, off int, bit uint) {
	for s := b; s != nil; s = s.Next() {
		seg := s.Bytes()
		if off < len(seg) {
			seg[off] ^= 1 << bit
			return
		}
		off -= len(seg)
	}
}

// copyPacket returns a copy of b, all its data, in fresh mbufs of the
// wire's pool (chained when one does not hold it), with b's rx checksum
// flags; or nil when the pool runs out.
func (w *Wire) copyPacket(b *mbuf.Buf) *mbuf.Buf {
	head := w.cache.Get()
	if head == nil {
		return nil
	}
	cur := head
	for s := b; s != nil; s = s.Next() {
		src := s.Bytes()
		for len(src) > 0 {
			room := cur.Tailroom()
			if room == 0 {
				// A segment is filled before it is chained: Chain takes
				// its length then.
				if cur != head && !head.Chain(cur) {
					w.cache.Free(cur)
					w.cache.Free(head)
					return nil
				}
				if cur = w.cache.Get(); cur == nil {
					w.cache.Free(head)
					return nil
				}
				continue
			}
			n := min(room, len(src))
			copy(cur.Put(n), src[:n])
			src = src[n:]
		}
	}
	if cur != head && !head.Chain(cur) {
		w.cache.Free(cur)
		w.cache.Free(head)
		return nil
	}
	// Only the rx checksum verdicts carry over: the rest of ol_flags is
	// about the buffer itself (a clone's is marked indirect) or about
	// transmit offloads, which a ring never performs.
	head.SetOlFlags(b.OlFlags() & (mbuf.RxIPCksumMask | mbuf.RxL4CksumMask))
	return head
}
