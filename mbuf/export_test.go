package mbuf

import "unsafe"

// MbufBytes is b's struct rte_mbuf, as bytes, for comparing two mbufs field
// by field (the private area after it is not included).
func MbufBytes(b *Buf) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(b)), mbufSize)
}

// SetHeaderFields gives every header field that a clone copies from its
// original (port, VLAN tags, tx_offload, hash, packet_type, the dynamic
// fields) a value derived from seed, so that a test sees them copied.
func SetHeaderFields(b *Buf, seed byte) {
	v := uint16(seed)<<8 | uint16(seed)
	*(*uint16)(unsafe.Pointer(&b.port)) = v ^ 0x0101
	*(*uint16)(unsafe.Pointer(&b.vlan_tci)) = v ^ 0x0202
	*(*uint16)(unsafe.Pointer(&b.vlan_tci_outer)) = v ^ 0x0303
	*(*uint64)(b.at(offTxOffload)) = uint64(v)<<40 | uint64(v)<<16 | uint64(v^0x0404)
	*(*uint64)(b.at(offHash)) = uint64(v^0x0505)<<48 | uint64(v)<<32 | uint64(v^0x0606)
	*(*uint32)(b.at(offPacketType)) = uint32(v)<<16 | uint32(v^0x0707)
	dyn := unsafe.Slice((*byte)(unsafe.Pointer(&b.dynfield1)), unsafe.Sizeof(b.dynfield1))
	for i := range dyn {
		dyn[i] = seed + byte(i)
	}
}

// ClonesInGo reports whether CloneFrom would clone b in Go rather than
// through rte_pktmbuf_clone.
func ClonesInGo(b *Buf) bool { return b.clonesInGo() }
