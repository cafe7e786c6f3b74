package mbuf

/*
#cgo pkg-config: libdpdk
#include <stddef.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

// Offsets of fields that sit in anonymous unions, which cgo cannot name.
enum {
	dps_off_packet_type = offsetof(struct rte_mbuf, packet_type),
	dps_off_hash = offsetof(struct rte_mbuf, hash),
	dps_off_tx_offload = offsetof(struct rte_mbuf, tx_offload),
	dps_size_hash = sizeof(((struct rte_mbuf *)0)->hash),
	dps_size_tx_offload = sizeof(((struct rte_mbuf *)0)->tx_offload),
};
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// Buf is one rte_mbuf; *Buf is the C pointer.
type Buf C.struct_rte_mbuf

// CBSize is the size of the per-packet control block (skb->cb).
const CBSize = 48

// privSize is the per-mbuf private area: the control block, then the two
// Queue links.
const privSize = CBSize + 2*8

const (
	privNext = CBSize
	privPrev = CBSize + 8
)

// Offload flags (rte_mbuf ol_flags) that the stack reads or sets.
const (
	RxRSSHash     = uint64(C.RTE_MBUF_F_RX_RSS_HASH)
	RxIPCksumMask = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_MASK)
	RxIPCksumBad  = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_BAD)
	RxIPCksumGood = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_GOOD)
	RxL4CksumMask = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_MASK)
	RxL4CksumBad  = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_BAD)
	RxL4CksumGood = uint64(C.RTE_MBUF_F_RX_L4_CKSUM_GOOD)
	TxIPv4        = uint64(C.RTE_MBUF_F_TX_IPV4)
	TxIPCksum     = uint64(C.RTE_MBUF_F_TX_IP_CKSUM)
	TxTCPCksum    = uint64(C.RTE_MBUF_F_TX_TCP_CKSUM)
	TxL4Mask      = uint64(C.RTE_MBUF_F_TX_L4_MASK) // TxTCPCksum and TxUDPCksum are values under it
	TxUDPCksum    = uint64(C.RTE_MBUF_F_TX_UDP_CKSUM)
	TxTCPSeg      = uint64(C.RTE_MBUF_F_TX_TCP_SEG)       // TCP segmentation offload (SetTSO)
	RxVLANStrip   = uint64(C.RTE_MBUF_F_RX_VLAN_STRIPPED) // the port took the 802.1Q tag off into VLANTCI
	RxLRO         = uint64(C.RTE_MBUF_F_RX_LRO)           // the port merged TCP segments into this packet (LROSegSize)
	TxVLAN        = uint64(C.RTE_MBUF_F_TX_VLAN)          // the port inserts the 802.1Q tag from VLANTCI
)

// Flags that say where an mbuf's data lives: in another mbuf (a clone) or
// in an external buffer. An mbuf with neither is direct.
const (
	flagIndirect = uint64(C.RTE_MBUF_F_INDIRECT)
	flagExternal = uint64(C.RTE_MBUF_F_EXTERNAL)
)

// Offsets of fields in anonymous unions (see the enum above).
const (
	offPacketType = uintptr(C.dps_off_packet_type)
	offHash       = uintptr(C.dps_off_hash)
	offTxOffload  = uintptr(C.dps_off_tx_offload)
)

// The reference count is a uint16_t that other cores change with C atomics
// (a peer loop freeing a clone decrements the original's count). Go has no
// 16-bit atomics, so it is read as the aligned 32-bit word that holds it:
// an aligned 32-bit load is single-copy atomic on every architecture DPDK
// runs on, and sync/atomic's load has (at least) the acquire ordering that
// pairs with the release half of DPDK's __ATOMIC_ACQ_REL decrement. The other
// half of the word (data_off, in 22.11) belongs to the mbuf's owner and is
// simply ignored. The mbuf itself is cache-line aligned, so the word is
// aligned when its offset is.
const (
	refcntOff  = unsafe.Offsetof(Buf{}.refcnt)
	refWordOff = refcntOff &^ 3
	// refShift is refcnt's bit position in the word, little-endian (all of
	// DPDK's targets; init checks).
	refShift = (refcntOff & 3) * 8
)

// Compile-time layout checks: refcnt is a 2-byte, 2-aligned field, so it
// sits wholly inside its 4-byte word; a Buf is at least 4-aligned; hash and
// tx_offload are the 8-byte unions that Clone copies whole.
var (
	_ = [1]struct{}{}[refcntOff%2]
	_ = [1]struct{}{}[unsafe.Sizeof(Buf{}.refcnt)-2]
	_ = [1]struct{}{}[unsafe.Alignof(Buf{})%4]
	_ = [1]struct{}{}[C.dps_size_hash-8]
	_ = [1]struct{}{}[C.dps_size_tx_offload-8]
)

func init() {
	one := uint16(1)
	if *(*byte)(unsafe.Pointer(&one)) != 1 {
		panic("mbuf: refcnt extraction assumes a little-endian host")
	}
}

func (b *Buf) at(off uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(b), off)
}

func (b *Buf) data() unsafe.Pointer {
	return unsafe.Add(b.buf_addr, uintptr(b.data_off))
}

// Bytes returns the data of the first segment (of a chain, b's own; see
// chain.go for what walks every segment). The slice aliases packet
// memory: it is valid while the caller owns b, and writes go to the packet.
func (b *Buf) Bytes() []byte {
	return unsafe.Slice((*byte)(b.data()), int(b.data_len))
}

// Len is the length of the whole packet, all segments (skb->len).
func (b *Buf) Len() int { return int(b.pkt_len) }

// SegLen is the data length of this segment alone.
func (b *Buf) SegLen() int { return int(b.data_len) }

// Headroom is the free space before the data: the mbuf's data offset.
func (b *Buf) Headroom() int { return int(b.data_off) }

// Tailroom is the free space after the data of this segment.
func (b *Buf) Tailroom() int {
	return int(b.buf_len) - int(b.data_off) - int(b.data_len)
}

// Reserve moves the start of an empty buffer n bytes further in, making
// room for headers to be pushed later (skb_reserve). It reports whether
// there was room.
func (b *Buf) Reserve(n int) bool {
	if b.data_len != 0 || n < 0 || n > b.Tailroom() {
		return false
	}
	b.data_off += C.uint16_t(n)
	return true
}

// Push prepends n bytes to the data and returns the data of the segment
// it is called on (a chain's head: its length grows the packet's), whose
// first n bytes are the new header (skb_push). It returns nil, changing
// nothing, when the headroom is short.
func (b *Buf) Push(n int) []byte {
	if n < 0 || n > int(b.data_off) {
		return nil
	}
	b.data_off -= C.uint16_t(n)
	b.data_len += C.uint16_t(n)
	b.pkt_len += C.uint32_t(n)
	return b.Bytes()
}

// Pull strips n bytes from the front of the data and returns what remains
// (skb_pull). It returns nil, changing nothing, when the first segment holds
// fewer than n bytes.
func (b *Buf) Pull(n int) []byte {
	if n < 0 || n > int(b.data_len) {
		return nil
	}
	b.data_off += C.uint16_t(n)
	b.data_len -= C.uint16_t(n)
	b.pkt_len -= C.uint32_t(n)
	return b.Bytes()
}

// Put appends n bytes at the tail of a single-segment packet and returns
// them for the caller to fill (skb_put). It returns nil, changing nothing,
// when the tailroom is short or the packet has more than one segment.
func (b *Buf) Put(n int) []byte {
	if n < 0 || n > b.Tailroom() || b.nb_segs != 1 {
		return nil
	}
	tail := unsafe.Add(b.data(), int(b.data_len))
	b.data_len += C.uint16_t(n)
	b.pkt_len += C.uint32_t(n)
	return unsafe.Slice((*byte)(tail), n)
}

// Trim cuts a single-segment packet down to n bytes (skb_trim); it does
// nothing when the packet is already shorter or has more than one segment,
// and reports whether the length is now n.
func (b *Buf) Trim(n int) bool {
	if n < 0 || n > int(b.data_len) || b.nb_segs != 1 {
		return false
	}
	b.data_len = C.uint16_t(n)
	b.pkt_len = C.uint32_t(n)
	return true
}

// CB returns the control block, the owning layer's per-packet scratch space
// (skb->cb). It lives in the mbuf's private area and survives queueing.
// It is not cleared on allocation: the layer that uses it writes it first.
func (b *Buf) CB() *[CBSize]byte {
	return (*[CBSize]byte)(b.at(mbufSize))
}

// Port is the DPDK port the packet was received on.
func (b *Buf) Port() uint16 { return uint16(b.port) }

// OlFlags returns the offload flags.
func (b *Buf) OlFlags() uint64 { return uint64(b.ol_flags) }

// L4Checksum is what is known of a received packet's TCP or UDP checksum
// without summing it: good or bad when the port checked it (the rx
// flags; "none" counts as good: the data is known intact), good too when
// its field holds only the pseudo header's sum because a dpstack host left
// it to a ring pair that offers the offload (the transmit flag tx, TxTCPCksum
// or TxUDPCksum, still set: memory never corrupts it, as Linux trusts
// CHECKSUM_PARTIAL on receive). known false: it must be summed.
func (b *Buf) L4Checksum(tx uint64) (good, known bool) {
	ol := uint64(b.ol_flags)
	switch ol & RxL4CksumMask {
	case RxL4CksumGood, RxL4CksumMask:
		return true, true
	case RxL4CksumBad:
		return false, true
	}
	return ol&TxL4Mask == tx, ol&TxL4Mask == tx
}

// SetOlFlags replaces the offload flags.
func (b *Buf) SetOlFlags(f uint64) { b.ol_flags = C.uint64_t(f) }

// ClearOffloads clears the receive and transmit offload flags and keeps
// those that say where the data lives (a clone's, an external buffer's):
// for a received packet that goes out again, so that the driver sees only
// what output sets.
func (b *Buf) ClearOffloads() { b.ol_flags &= C.uint64_t(flagIndirect | flagExternal) }

// RSSHash returns the RSS hash the port computed, and whether there is one.
func (b *Buf) RSSHash() (uint32, bool) {
	if uint64(b.ol_flags)&RxRSSHash == 0 {
		return 0, false
	}
	return *(*uint32)(b.at(uintptr(C.dps_off_hash))), true
}

// PacketType is the driver's classification of the packet (RTE_PTYPE_*).
func (b *Buf) PacketType() uint32 {
	return *(*uint32)(b.at(uintptr(C.dps_off_packet_type)))
}

// VLANTCI is the 802.1Q tag control information the port stripped from a
// received frame (with RxVLANStrip), or that it inserts in a sent one
// (with TxVLAN): vlan_tci.
func (b *Buf) VLANTCI() uint16 { return uint16(b.vlan_tci) }

// SetVLANTCI asks the port to insert an 802.1Q tag with tci as it sends b
// (RTE_MBUF_F_TX_VLAN and vlan_tci); the port must have
// RTE_ETH_TX_OFFLOAD_VLAN_INSERT on.
func (b *Buf) SetVLANTCI(tci uint16) {
	b.vlan_tci = C.uint16_t(tci)
	b.ol_flags |= C.uint64_t(TxVLAN)
}

// SetTxOffload sets the header lengths that checksum offload needs
// (l2_len:7, l3_len:9, l4_len:8 bits of tx_offload) and adds flags to
// ol_flags. The fields above them (tso_segsz, SetTSO's) keep their value.
func (b *Buf) SetTxOffload(l2, l3, l4 int, flags uint64) {
	w := (*uint64)(b.at(uintptr(C.dps_off_tx_offload)))
	*w = *w&^txLensMask | uint64(l2)&0x7f | (uint64(l3)&0x1ff)<<7 | (uint64(l4)&0xff)<<16
	b.ol_flags |= C.uint64_t(flags)
}

// Next is the next segment of a multi-segment packet, or nil.
func (b *Buf) Next() *Buf { return (*Buf)(b.next) }

// Segments is the number of segments in the packet.
func (b *Buf) Segments() int { return int(b.nb_segs) }

// Chain appends the packet tail, all its segments, to the last segment of
// b (rte_pktmbuf_chain): b's segment count and length grow by tail's, and
// tail is owned by b from then on (freeing b frees it). It refuses, changing
// nothing, when the result would exceed RTE_MBUF_MAX_NB_SEGS segments.
func (b *Buf) Chain(tail *Buf) bool {
	if int(b.nb_segs)+int(tail.nb_segs) > C.RTE_MBUF_MAX_NB_SEGS {
		return false
	}
	last := b
	for last.next != nil {
		last = (*Buf)(last.next)
	}
	last.next = (*C.struct_rte_mbuf)(tail)
	b.nb_segs += tail.nb_segs
	b.pkt_len += tail.pkt_len
	// pkt_len is only meaningful in the head.
	tail.pkt_len = C.uint32_t(tail.data_len)
	return true
}

// RefCount is the reference count of the buffer that holds b's data (for a
// clone, the original's). It is an atomic load with acquire ordering: once it
// reads 1, every clone has been freed, on whatever core, and the data is b's
// alone to write.
func (b *Buf) RefCount() int {
	if uint64(b.ol_flags)&flagExternal != 0 {
		return int(C.rte_mbuf_refcnt_read(C.rte_mbuf_from_indirect((*C.struct_rte_mbuf)(b))))
	}
	return b.direct().loadRefcnt()
}

// direct is the mbuf that embeds b's data: b itself, or for a clone the
// mbuf its buf_addr points into (rte_mbuf_from_indirect). Not for external
// buffers.
func (b *Buf) direct() *Buf {
	if uint64(b.ol_flags)&flagIndirect == 0 {
		return b
	}
	return (*Buf)(unsafe.Add(b.buf_addr, -int(mbufSize+uintptr(b.priv_size))))
}

// loadRefcnt loads b's own reference count atomically, through the 32-bit
// word at refWordOff (see above).
func (b *Buf) loadRefcnt() int {
	w := atomic.LoadUint32((*uint32)(b.at(refWordOff)))
	return int(uint16(w >> refShift))
}

// ReadAt copies packet bytes from offset off, across segments, into p and
// returns how many it copied (none for a negative off).
func (b *Buf) ReadAt(p []byte, off int) int {
	if off < 0 {
		return 0
	}
	n := 0
	for s := b; s != nil && n < len(p); s = s.Next() {
		seg := s.Bytes()
		if off >= len(seg) {
			off -= len(seg)
			continue
		}
		n += copy(p[n:], seg[off:])
		off = 0
	}
	return n
}

// Clone returns a new mbuf that shares b's data (rte_pktmbuf_clone: the
// clone is an indirect mbuf and the data's reference count goes up), with
// its own data offset, lengths and control block, or nil when the pool is
// empty. The control block is copied. It is one cgo call: the data path
// clones through CloneFrom.
func (b *Buf) Clone(p *Pool) *Buf {
	c := (*Buf)(C.rte_pktmbuf_clone((*C.struct_rte_mbuf)(b), p.mp))
	if c != nil {
		*c.CB() = *b.CB()
	}
	return c
}

// CloneFrom is Clone with the clone taken from cache c (so from c's pool):
// the same result, or nil when no mbuf is left. For the common case, a
// single-segment direct mbuf that nothing else references, it is done in Go
// without a cgo call; anything else (several segments, a clone of a clone,
// an external buffer, a count above 1) goes through rte_pktmbuf_clone.
// Either kind of clone is freed the usual way, by Free, Cache.Free or
// FreeBulk.
func (b *Buf) CloneFrom(c *Cache) *Buf {
	if !b.clonesInGo() {
		return b.Clone(c.pool)
	}
	m := c.Get()
	if m == nil {
		return nil
	}
	attach(m, b)
	*m.CB() = *b.CB()
	return m
}

// CloneSeg returns a new one-segment mbuf, taken from cache c, that shares
// the data of segment b alone (rte_pktmbuf_attach): the same data offset
// and length as b, none of the segments after it, and a control block of
// its own. b may be any segment of a packet, direct or itself a clone; the
// reference count of the mbuf that holds the data goes up atomically, so
// the same segment may be cloned any number of times, from any core's
// cache. It returns nil when no mbuf is left. IP fragmentation uses it to
// cut a packet's payload into pieces without copying it.
func (b *Buf) CloneSeg(c *Cache) *Buf {
	if uint64(b.ol_flags)&flagExternal != 0 {
		// Not made by dpstack; DPDK counts the external buffer's
		// references.
		m := c.Get()
		if m != nil {
			C.rte_pktmbuf_attach((*C.struct_rte_mbuf)(m), (*C.struct_rte_mbuf)(b))
		}
		return m
	}
	m := c.Get()
	if m == nil {
		return nil
	}
	b.direct().addRef()
	attachData(m, b)
	m.pkt_len = C.uint32_t(b.data_len)
	return m
}

// clonesInGo reports whether CloneFrom clones b in Go: b is one segment,
// direct, not external, and its owner holds the only reference. That last
// condition is what lets attach store the new count plainly.
func (b *Buf) clonesInGo() bool {
	return b.nb_segs == 1 && uint64(b.ol_flags)&(flagIndirect|flagExternal) == 0 && b.loadRefcnt() == 1
}

// attach makes fresh mbuf m (from Cache.Get: direct, count 1, as
// rte_pktmbuf_attach requires) a clone of b, which must be direct, not
// external, one segment, and referenced by its owner alone. It does what
// rte_pktmbuf_clone does for one segment (rte_pktmbuf_attach,
// __rte_pktmbuf_copy_hdr, then the clone's nb_segs and pkt_len), DPDK 22.11
// with RTE_IOVA_AS_PA (buf_iova does not compile otherwise).
func attach(m, b *Buf) {
	// A plain store, as rte_mbuf_refcnt_update does when the count is 1:
	// no other core holds a reference that could change it. The clone
	// reaches another core through a ring, which orders the store.
	b.refcnt = 2
	attachData(m, b)
	m.pkt_len = b.pkt_len
}

// attachData points fresh mbuf m at b's data and copies b's packet
// metadata, as rte_pktmbuf_attach does after the reference count (and
// __rte_pktmbuf_copy_hdr): m becomes one indirect segment whose pkt_len
// the caller sets. b is not external.
func attachData(m, b *Buf) {
	m.priv_size = b.priv_size
	m.ol_flags = b.ol_flags | C.uint64_t(flagIndirect)

	m.port = b.port
	m.vlan_tci = b.vlan_tci
	m.vlan_tci_outer = b.vlan_tci_outer
	*(*uint64)(m.at(offTxOffload)) = *(*uint64)(b.at(offTxOffload))
	*(*uint64)(m.at(offHash)) = *(*uint64)(b.at(offHash))
	*(*uint32)(m.at(offPacketType)) = *(*uint32)(b.at(offPacketType))
	m.dynfield1 = b.dynfield1

	m.data_off = b.data_off
	m.data_len = b.data_len
	m.buf_iova = b.buf_iova
	m.buf_addr = b.buf_addr
	m.buf_len = b.buf_len

	m.next = nil
	m.nb_segs = 1
}

// recyclable reports whether b can go straight back into a cache of pool
// mp without DPDK's free path: one segment of mp's, direct, not external,
// and referenced by its owner alone, so that freeing it would do nothing
// but put it back (rte_pktmbuf_prefree_seg has nothing to detach or
// count down).
func (b *Buf) recyclable(mp *C.struct_rte_mempool) bool {
	return b.pool == mp && b.nb_segs == 1 && b.next == nil &&
		uint64(b.ol_flags)&(flagIndirect|flagExternal) == 0 && b.loadRefcnt() == 1
}

// detachable reports whether Cache.Free can detach b in Go: a one-segment
// clone of pool mp's (indirect, not of an external buffer) that nothing
// but its owner references.
func (b *Buf) detachable(mp *C.struct_rte_mempool) bool {
	return b.pool == mp && b.nb_segs == 1 && b.next == nil &&
		uint64(b.ol_flags)&(flagIndirect|flagExternal) == flagIndirect && b.loadRefcnt() == 1
}

// detach is rte_pktmbuf_detach (DPDK 22.11) for a detachable b of a pool
// whose mbufs have data room room: b gets its own, empty, buffer back and
// drops the reference it held on the original. When that was the last
// reference, detach returns the original, made freeable as DPDK's
// __rte_pktmbuf_free_direct makes it (count 1, one segment), for the
// caller to free; otherwise nil.
func (b *Buf) detach(room uint16) *Buf {
	orig := b.direct()
	own := mbufSize + privSize
	b.priv_size = privSize
	b.buf_addr = b.at(own)
	b.buf_iova = b.objIOVA() + C.rte_iova_t(own)
	b.buf_len = C.uint16_t(room)
	b.ol_flags = 0
	if !orig.dropRef() {
		return nil
	}
	orig.refcnt = 1
	orig.next = nil
	orig.nb_segs = 1
	return orig
}

// objIOVA is the IO address of mbuf b itself, from the header the mempool
// keeps in front of every object (rte_mempool_virt2iova).
func (b *Buf) objIOVA() C.rte_iova_t {
	hdr := (*C.struct_rte_mempool_objhdr)(unsafe.Add(unsafe.Pointer(b), -int(C.sizeof_struct_rte_mempool_objhdr)))
	return hdr.iova
}

// addRef adds one to b's own reference count atomically, as
// rte_mbuf_refcnt_update(b, 1) does, through the 32-bit word that holds
// it (see dropRef).
func (b *Buf) addRef() {
	atomic.AddUint32((*uint32)(b.at(refWordOff)), 1<<refShift)
}

// dropRef takes one off b's own reference count atomically, as
// rte_mbuf_refcnt_update(b, -1) does, and reports whether it reached 0.
// The add is on the 32-bit word that holds the count (see refWordOff):
// subtracting 1<<refShift leaves the word's other half alone, and a locked
// add is atomic against the owner's plain stores to that half.
func (b *Buf) dropRef() bool {
	w := atomic.AddUint32((*uint32)(b.at(refWordOff)), ^uint32(1<<refShift-1))
	return uint16(w>>refShift) == 0
}

// reset makes a recyclable b what rte_pktmbuf_alloc hands out
// (rte_pktmbuf_reset, DPDK 22.11): no data, the default headroom, no
// offload flags, no packet type, port or VLAN tags. As with DPDK, the
// hash, the dynamic fields and the private area keep what they held.
func (b *Buf) reset() {
	b.next = nil
	b.pkt_len = 0
	*(*uint64)(b.at(offTxOffload)) = 0
	b.vlan_tci = 0
	b.vlan_tci_outer = 0
	b.nb_segs = 1
	b.port = C.RTE_MBUF_PORT_INVALID
	b.ol_flags &= C.uint64_t(flagExternal)
	*(*uint32)(b.at(offPacketType)) = 0
	b.data_off = C.uint16_t(min(DefaultHeadroom, int(b.buf_len)))
	b.data_len = 0
}

// Free returns the packet, all its segments, to its pool. It is one cgo call
// per packet: the data path frees through Cache.Free, which batches.
func (b *Buf) Free() {
	C.rte_pktmbuf_free((*C.struct_rte_mbuf)(b))
}

// mbufSize is sizeof(struct rte_mbuf): the private area starts right after.
const mbufSize = uintptr(C.sizeof_struct_rte_mbuf)
