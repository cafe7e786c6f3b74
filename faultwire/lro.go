package faultwire

// OffloadLRO makes the ports A and B offer large receive offload, which
// the ring pairs that end at them model (dpdk.RingPair.OffloadLRO): what
// the wire lets through, in the order it lets it through, is merged as a
// NIC would merge the frames it receives. A frame the wire corrupted
// fails the model's checksum check and arrives alone. Call it before the
// ports are configured.
func (w *Wire) OffloadLRO() {
	w.ax.OffloadLRO()
	w.yb.OffloadLRO()
}
