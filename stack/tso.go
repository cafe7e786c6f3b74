package stack

import (
	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/stack/netdev"
)

// tsoMTU is the largest IP packet the port's TSO makes
// (netdev.Device.TSOMTU), 0 without TSO. DPDK 22.11's net_tap refuses a
// TSO packet whose pieces, Ethernet header included, exceed the MTU
// (pmd_tx_burst compares tso_segsz and the l2, l3 and l4 lengths with
// it), so on net_tap a piece's IP packet is the Ethernet header (with
// the VLAN tag it carries) shorter than the MTU; a NIC cuts to the MTU
// itself.
func (h *Host) tsoMTU() int {
	if !h.features().Has(netdev.TxTSO) {
		return 0
	}
	if info, err := h.port.Info(); err == nil && info.Driver == dpdk.DriverTap {
		return h.cfg.MTU - netdev.HardHeaderLen(h.cfg.VLAN, h.features())
	}
	return h.cfg.MTU
}
