package dpdk

/*
#include <rte_ethdev.h>
*/
import "C"

import (
	"fmt"
)

// SetMcAddrList makes the port receive the frames sent to macs, the
// Ethernet addresses of the multicast groups the host joined, and no
// other multicast frame (rte_eth_dev_set_mc_addr_list; Linux's
// dev_mc_sync into the driver's filter). An empty list flushes the
// filter. A driver without a multicast filter fails with ENOTSUP, and
// then AllMulticast is the way in for groups.
func (p *Port) SetMcAddrList(macs [][6]byte) error {
	var set *C.struct_rte_ether_addr
	if len(macs) > 0 {
		// [6]byte has the layout of struct rte_ether_addr (six bytes,
		// 2-byte aligned in C, which Go's slice of arrays of bytes does
		// not promise): copy into C-typed storage.
		addrs := make([]C.struct_rte_ether_addr, len(macs))
		for i, m := range macs {
			for j, v := range m {
				addrs[i].addr_bytes[j] = C.uint8_t(v)
			}
		}
		set = &addrs[0]
	}
	rc := C.rte_eth_dev_set_mc_addr_list(C.uint16_t(p.id), set, C.uint32_t(len(macs)))
	if rc != 0 {
		return fmt.Errorf("dpdk: port %d multicast list of %d: %w", p.id, len(macs), errnoErr(rc))
	}
	return nil
}

// AllMulticast turns the receipt of every multicast frame on or off
// (rte_eth_allmulticast_enable / _disable; IFF_ALLMULTI).
func (p *Port) AllMulticast(on bool) error {
	var rc C.int
	if on {
		rc = C.rte_eth_allmulticast_enable(C.uint16_t(p.id))
	} else {
		rc = C.rte_eth_allmulticast_disable(C.uint16_t(p.id))
	}
	if rc != 0 {
		return fmt.Errorf("dpdk: port %d all-multicast %v: %w", p.id, on, errnoErr(rc))
	}
	return nil
}

// AllMulticastEnabled reports whether the port receives every multicast
// frame (rte_eth_allmulticast_get).
func (p *Port) AllMulticastEnabled() bool {
	return C.rte_eth_allmulticast_get(C.uint16_t(p.id)) == 1
}
