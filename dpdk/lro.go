package dpdk

/*
#include "lro.h"

static void dps_set_rx_lro(uint16_t port, uint32_t max_len) { dps_rx_lro[port] = max_len; }
*/
import "C"

// Large receive offload (RTE_ETH_RX_OFFLOAD_TCP_LRO): a port that offers
// it merges the in-order TCP segments of a flow into one packet, a chain
// of the pool's buffers marked mbuf.RxLRO with the segments' size in
// tso_segsz (mbuf.Buf.LROSegSize), which TCP takes as one segment. A
// PortConfig asks for it with RxOffloadTCPLRO; Configure sizes it and
// adds scatter receive where the merged packet needs more than one of the
// pool's buffers. A ring pair's ports
// offer it with RingPair.OffloadLRO, and the binding merges as a NIC would
// (lro.c), in the rx burst.

// MaxLROPktSize caps the largest packet LRO builds: 64 KiB, as Linux caps
// a GRO packet (GRO_LEGACY_MAX_SIZE) and as IPv4's Total Length must hold
// it; a driver may offer more or less (mlx5: 65,280).
const MaxLROPktSize = 64 << 10

// lroSize is the rxmode.max_lro_pkt_size that Configure asks of a port
// whose frames are up to frame bytes: the driver's largest, at most
// MaxLROPktSize; a driver that gives none takes exactly its frame size.
// ethdev refuses a size below the frame size (eth_dev_check_lro_pkt_size):
// then 0, no LRO.
func lroSize(info DevInfo, frame int) int {
	size := min(info.MaxLROPktSize, MaxLROPktSize)
	if info.MaxLROPktSize == 0 {
		size = frame
	}
	if size < frame {
		return 0
	}
	return size
}

// configureLRO sizes the LRO that got asks for (RxOffloadTCPLRO) on p,
// whose frames are up to frame bytes and whose pool's mbufs hold room
// bytes, turns the binding's model (lro.c) on or off for a port whose
// link has it, and returns the rxmode.max_lro_pkt_size to ask the driver
// for: 0 for the model, or without LRO. A NIC writes a merged packet over
// several of the pool's buffers: LRO then needs scatter receive, and
// without it stays off.
func (p *Port) configureLRO(got *Configured, info DevInfo, link offloadSet, frame, room int) int {
	got.MaxLROPktSize = 0
	if got.RxOffloads&RxOffloadTCPLRO != 0 {
		got.MaxLROPktSize = lroSize(info, frame)
	}
	model := link.rx&RxOffloadTCPLRO != 0
	if got.MaxLROPktSize > room && !model {
		if info.RxOffloadCapa&RxOffloadScatter != 0 {
			got.RxOffloads |= RxOffloadScatter
		} else {
			got.MaxLROPktSize = 0
		}
	}
	if got.MaxLROPktSize == 0 {
		got.RxOffloads &^= RxOffloadTCPLRO
	}
	if model {
		setRxLRO(p.id, got.MaxLROPktSize)
		return 0
	}
	setRxLRO(p.id, 0)
	return got.MaxLROPktSize
}

// setRxLRO turns port id's LRO model on, merging up to maxLen-byte
// frames, or off with 0 (dps_rx_lro, lro.h).
func setRxLRO(id uint16, maxLen int) { C.dps_set_rx_lro(C.uint16_t(id), C.uint32_t(maxLen)) }
