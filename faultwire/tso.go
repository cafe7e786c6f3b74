package faultwire

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/ktime"
	"github.com/dpstack/dpstack/mbuf"
)

// Offloads: with OffloadTSO the wire is the port's hardware. A frame that
// asks for TCP segmentation (mbuf.TxTCPSeg) is cut into the frames a NIC
// would send, and a frame that asks for checksums gets them, before the
// faults see anything: what is lost, duplicated or corrupted is a frame
// on the wire, as on a real link.

// Frame layout the wire's offloads read: Ethernet, then IPv4.
const (
	ethLen       = 14
	etherTypeIP  = 0x0800
	ipProtoTCP   = 6
	tcpFlagFIN   = 0x01
	tcpFlagPSH   = 0x08
	tcpFlagCWR   = 0x80
	tcpFlagsOff  = 13
	tcpCksumOff  = 16
	ipCksumOff   = 10
	ipTotLenOff  = 2
	ipIDOff      = 4
	tcpSeqOff    = 4
	minIPv4Len   = 20
	minTCPHdrLen = 20
)

// OffloadTSO makes the ports A and B offer TCP segmentation offload, with
// the checksum offloads and multi-segment frames it needs, and the wire
// perform them. Call it before the ports are configured.
func (w *Wire) OffloadTSO() {
	w.ax.OffloadTSO()
	w.yb.OffloadTSO()
	w.tso = true
}

// offload does the port's work on b, just taken from the sending side: a
// TSO frame goes on as its pieces, any other has its checksums finished.
func (w *Wire) offload(d *direction, b *mbuf.Buf, now ktime.Time) {
	if b.OlFlags()&mbuf.TxTCPSeg != 0 {
		w.segment(d, b, now)
		return
	}
	if ip, ok := ipv4Of(b.Bytes()); ok {
		finish(b, ip)
	}
	w.ingress(d, b, now)
}

// ipv4Of returns the IPv4 header of an Ethernet frame's first segment,
// when it is one whole.
func ipv4Of(f []byte) ([]byte, bool) {
	if len(f) < ethLen+minIPv4Len || binary.BigEndian.Uint16(f[12:]) != etherTypeIP {
		return nil, false
	}
	hl := int(f[ethLen]&0x0f) * 4
	if hl < minIPv4Len || len(f) < ethLen+hl {
		return nil, false
	}
	return f[ethLen : ethLen+hl], true
}

// finish fills the checksums that b's flags leave to the port: the IPv4
// header's, and a TCP segment's over the whole chain (RFC 9293 §3.1).
func finish(b *mbuf.Buf, ip []byte) {
	fl := b.OlFlags()
	if fl&mbuf.TxIPCksum != 0 {
		binary.BigEndian.PutUint16(ip[ipCksumOff:], 0)
		binary.BigEndian.PutUint16(ip[ipCksumOff:], ^fold(sumBytes(ip, 0, 0)))
	}
	if fl&mbuf.TxL4Mask == mbuf.TxTCPCksum && ip[9] == ipProtoTCP {
		tcpOff := ethLen + len(ip)
		f := b.Bytes()
		if len(f) < tcpOff+minTCPHdrLen {
			return
		}
		binary.BigEndian.PutUint16(f[tcpOff+tcpCksumOff:], 0)
		sum := pseudoSum(ip, b.Len()-tcpOff)
		for s, pos, off := b, 0, tcpOff; s != nil; s = s.Next() {
			seg := s.Bytes()
			if off >= len(seg) {
				off -= len(seg)
				continue
			}
			sum = sumBytes(seg[off:], pos, sum)
			pos += len(seg) - off
			off = 0
		}
		binary.BigEndian.PutUint16(f[tcpOff+tcpCksumOff:], ^fold(sum))
	}
	b.SetOlFlags(fl &^ (mbuf.TxIPv4 | mbuf.TxIPCksum | mbuf.TxL4Mask))
}

// segment cuts b, a TSO frame, into frames of at most its tso_segsz bytes
// of payload each, as a NIC (or DPDK's GSO library, for net_tap) does:
// every piece has b's headers with its own IPv4 Total Length and
// Identification (b's, counting up) and TCP sequence number; FIN and PSH
// stay on the last piece only and CWR on the first. Each piece, checksums
// finished, goes on to the faults; b is freed. A piece without an mbuf is
// lost, counted as NoMbuf.
func (w *Wire) segment(d *direction, b *mbuf.Buf, now ktime.Time) {
	defer w.cache.Free(b)
	f := b.Bytes()
	ip, ok := ipv4Of(f)
	mss := b.TSOSegSize()
	hdr := ethLen + len(ip) + b.TxL4Len()
	total := b.Len() - hdr
	if !ok || mss == 0 || b.TxL4Len() < minTCPHdrLen || len(f) < hdr || total <= 0 {
		// Not a frame a port could cut: lost, as the port's tx error.
		d.st.txDropped++
		return
	}
	id := binary.BigEndian.Uint16(ip[ipIDOff:])
	seq := binary.BigEndian.Uint32(f[ethLen+len(ip)+tcpSeqOff:])
	flags := f[ethLen+len(ip)+tcpFlagsOff]
	for i, off := 0, 0; off < total; i, off = i+1, off+mss {
		n := min(mss, total-off)
		p := w.cache.Get()
		var out []byte
		if p != nil {
			out = p.Put(hdr + n)
		}
		if out == nil {
			if p != nil {
				w.cache.Free(p)
			}
			d.st.noMbuf++
			continue
		}
		copy(out, f[:hdr])
		b.ReadAt(out[hdr:], hdr+off)
		pip := out[ethLen : ethLen+len(ip)]
		binary.BigEndian.PutUint16(pip[ipTotLenOff:], uint16(hdr-ethLen+n))
		binary.BigEndian.PutUint16(pip[ipIDOff:], id+uint16(i))
		th := out[ethLen+len(ip):]
		binary.BigEndian.PutUint32(th[tcpSeqOff:], seq+uint32(off))
		fl := flags
		if off+n < total {
			fl &^= tcpFlagFIN | tcpFlagPSH
		}
		if i > 0 {
			fl &^= tcpFlagCWR
		}
		th[tcpFlagsOff] = fl
		p.SetOlFlags(mbuf.TxIPv4 | mbuf.TxIPCksum | mbuf.TxTCPCksum)
		finish(p, pip)
		w.ingress(d, p, now)
	}
}

// pseudoSum is the running sum of the TCP pseudo header (RFC 9293 §3.1)
// for a segment of n bytes under IPv4 header ip.
func pseudoSum(ip []byte, n int) uint32 {
	s := sumBytes(ip[12:20], 0, 0)
	return s + ipProtoTCP + uint32(n)
}

// sumBytes adds p to the running Internet checksum sum (RFC 1071), p
// starting at byte position pos of the summed data: an odd position puts
// its first byte in the low lane.
func sumBytes(p []byte, pos int, sum uint32) uint32 {
	for i, c := range p {
		if (pos+i)&1 == 0 {
			sum += uint32(c) << 8
		} else {
			sum += uint32(c)
		}
	}
	return sum
}

// fold folds a running sum into 16 bits.
func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
