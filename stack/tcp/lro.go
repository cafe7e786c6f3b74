package tcp

// Large receive offload. A port with LRO (dpdk.RxOffloadTCPLRO) hands
// TCP the in-order segments of a flow merged into one packet, a chain
// marked mbuf.RxLRO with the size of the segments in tso_segsz
// (mbuf.Buf.LROSegSize), its headers the first segment's with the
// Total Length and checksums of the whole, and the port's verdict on the
// checksum (RTE_MBUF_F_RX_L4_CKSUM_GOOD). TCP takes it as one segment, as
// Linux takes a GRO or LRO skb: received chains are taken apart on the
// queues (chain.go), and one ACK answers it (the segments it was made of
// are more than one full-sized segment: ackSndCheck), as Linux's GRO
// gives. The receive MSS that paces delayed ACKs is measured from the
// segments' size, not the packet's (tcp_measure_rcv_mss reads gso_size).
// DPDK leaves the mark to the driver: an unmarked merged packet is a
// received chain like any other, its size capped at the advertised MSS
// when measured, and not counted here.

// rcvSegSize is the size of the segments that g's data arrived in
// (tcp_measure_rcv_mss: skb_shinfo(skb)->gso_size ?: skb->len): an LRO
// packet's segment size, or its own length.
func rcvSegSize(g *segment) int {
	if n := g.b.LROSegSize(); n != 0 {
		return n
	}
	return g.dataLen
}

// countLRO counts g in LROPackets and its segments in LROSegs when the
// port's LRO merged it; a segment handed over by another core was counted
// there.
func (p *Proto) countLRO(g *segment) {
	n := g.b.LROSegSize()
	if n == 0 || p.handedIn {
		return
	}
	p.stats.LROPackets.Inc()
	p.stats.LROSegs.Add(uint64((g.dataLen + n - 1) / n))
}
