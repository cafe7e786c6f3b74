package capture

import (
	"encoding/binary"
	"io"
)

// pcapng (the PCAP Next Generation capture file format, IETF
// draft-ietf-opsawg-pcapng): a Section Header Block, an Interface
// Description Block per core, then an Enhanced Packet Block per packet and,
// at the end, an Interface Statistics Block per core with its drops. Every
// block is written whole, so a file cut between blocks is still readable.
const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 0x00000001
	blockEPB = 0x00000006
	blockISB = 0x00000005

	byteOrderMagic = 0x1a2b3c4d
	linkEthernet   = 1 // LINKTYPE_ETHERNET

	optEnd       = 0
	optComment   = 1
	optIfName    = 2
	optTsResol   = 9 // if_tsresol
	optEPBFlags  = 2 // epb_flags
	optISBIfRecv = 4 // isb_ifrecv
	optISBIfDrop = 5 // isb_ifdrop

	// epb_flags bits 0-1: the direction.
	flagInbound  = 1
	flagOutbound = 2
)

// writer writes pcapng blocks in the host's byte order (little endian on
// every platform DPDK runs on here), reusing one buffer.
type writer struct {
	w   io.Writer
	buf []byte
}

var le = binary.LittleEndian

// block frames body as a block of type typ: type, total length, body
// padded to 32 bits, total length again.
func (w *writer) block(typ uint32, body func(b []byte) []byte) error {
	b := append(w.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0)
	b = body(b)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	n := uint32(len(b) + 4)
	le.PutUint32(b[0:], typ)
	le.PutUint32(b[4:], n)
	b = le.AppendUint32(b, n)
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// option appends an option with its value padded to 32 bits.
func option(b []byte, code uint16, v []byte) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func endOptions(b []byte) []byte { return le.AppendUint32(b, optEnd) }

// section writes the Section Header Block, with comment as shb_comment.
func (w *writer) section(comment string) error {
	return w.block(blockSHB, func(b []byte) []byte {
		b = le.AppendUint32(b, byteOrderMagic)
		b = le.AppendUint16(b, 1) // version 1.0
		b = le.AppendUint16(b, 0)
		b = le.AppendUint64(b, ^uint64(0)) // section length unknown
		b = option(b, optComment, []byte(comment))
		return endOptions(b)
	})
}

// iface writes an Interface Description Block: Ethernet, snaplen,
// timestamps in nanoseconds (if_tsresol 9).
func (w *writer) iface(name string, snaplen int) error {
	return w.block(blockIDB, func(b []byte) []byte {
		b = le.AppendUint16(b, linkEthernet)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint32(b, uint32(snaplen))
		b = option(b, optIfName, []byte(name))
		b = option(b, optTsResol, []byte{9})
		return endOptions(b)
	})
}

// packet writes an Enhanced Packet Block: interface id, the time in ns
// since the Unix epoch, the captured bytes, the packet's length on the
// wire and its direction.
func (w *writer) packet(ifID uint32, ns int64, data []byte, wireLen int, outbound bool) error {
	return w.block(blockEPB, func(b []byte) []byte {
		b = le.AppendUint32(b, ifID)
		b = le.AppendUint32(b, uint32(uint64(ns)>>32))
		b = le.AppendUint32(b, uint32(ns))
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint32(b, uint32(wireLen))
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		flags := uint32(flagInbound)
		if outbound {
			flags = flagOutbound
		}
		b = option(b, optEPBFlags, le.AppendUint32(nil, flags))
		return endOptions(b)
	})
}

// stats writes an Interface Statistics Block: packets the capture saw and
// those it dropped for want of room.
func (w *writer) stats(ifID uint32, ns int64, recv, drop uint64) error {
	return w.block(blockISB, func(b []byte) []byte {
		b = le.AppendUint32(b, ifID)
		b = le.AppendUint32(b, uint32(uint64(ns)>>32))
		b = le.AppendUint32(b, uint32(ns))
		b = option(b, optISBIfRecv, le.AppendUint64(nil, recv))
		b = option(b, optISBIfDrop, le.AppendUint64(nil, drop))
		return endOptions(b)
	})
}
