package mbuf

/*
#include <rte_mbuf.h>
*/
import "C"

// txLensMask covers the header lengths of tx_offload (l2_len:7, l3_len:9,
// l4_len:8), which SetTxOffload writes.
const txLensMask = 1<<24 - 1

// tsoShift is tso_segsz's position in tx_offload, after the lengths.
const tsoShift = 24

// SetTSO asks the port to cut b, a TCP segment larger than the path's
// MTU, into segments of mss bytes of payload each (Linux's
// skb_shinfo(skb)->gso_size with SKB_GSO_TCPV4): it writes tso_segsz and
// the TCP header length l4 into tx_offload and sets RTE_MBUF_F_TX_TCP_SEG
// and RTE_MBUF_F_TX_TCP_CKSUM, which segmentation implies. As DPDK asks,
// the TCP checksum field must hold the pseudo-header sum without the
// length (rte_ipv4_phdr_cksum of a TSO packet), every header must be in
// the first segment, and the IPv4 layer still sets l2_len, l3_len and
// RTE_MBUF_F_TX_IPV4 (SetTxOffload keeps what SetTSO wrote).
func (b *Buf) SetTSO(l4, mss int) {
	w := (*uint64)(b.at(offTxOffload))
	*w = *w&(1<<16-1) | (uint64(l4)&0xff)<<16 | (uint64(mss)&0xffff)<<tsoShift
	b.ol_flags = b.ol_flags&^C.uint64_t(TxL4Mask) | C.uint64_t(TxTCPSeg|TxTCPCksum)
}

// TSOSegSize is the payload per segment that SetTSO asked for, or 0 when b
// is not a TSO packet.
func (b *Buf) TSOSegSize() int {
	if uint64(b.ol_flags)&TxTCPSeg == 0 {
		return 0
	}
	return int(*(*uint64)(b.at(offTxOffload)) >> tsoShift & 0xffff)
}

// TxL4Len is the transport header length in tx_offload (l4_len).
func (b *Buf) TxL4Len() int {
	return int(*(*uint64)(b.at(offTxOffload)) >> 16 & 0xff)
}

// LROSegSize is the payload of each of the TCP segments that the port's
// large receive offload merged into b (tso_segsz of a packet marked
// RTE_MBUF_F_RX_LRO, as DPDK's drivers set it; Linux's
// skb_shinfo(skb)->gso_size of a GRO packet), or 0 when b is not such a
// packet.
func (b *Buf) LROSegSize() int {
	if uint64(b.ol_flags)&RxLRO == 0 {
		return 0
	}
	return int(*(*uint64)(b.at(offTxOffload)) >> tsoShift & 0xffff)
}
