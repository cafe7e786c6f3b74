package dpdk

/*
#include <stdlib.h>
#include <rte_ethdev.h>
*/
import "C"

import (
	"fmt"
)

// Stats are a port's basic counters (struct rte_eth_stats).
type Stats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxMissed             uint64 // dropped by the port: no rx descriptor free
	RxErrors, TxErrors   uint64
	RxNoMbuf             uint64 // rx mbuf allocation failures
}

// Stats reads the port's basic counters.
func (p *Port) Stats() (Stats, error) {
	var s C.struct_rte_eth_stats
	if rc := C.rte_eth_stats_get(C.uint16_t(p.id), &s); rc != 0 {
		return Stats{}, fmt.Errorf("dpdk: port %d stats: %w", p.id, errnoErr(rc))
	}
	return Stats{
		RxPackets: uint64(s.ipackets), TxPackets: uint64(s.opackets),
		RxBytes: uint64(s.ibytes), TxBytes: uint64(s.obytes),
		RxMissed: uint64(s.imissed), RxErrors: uint64(s.ierrors), TxErrors: uint64(s.oerrors),
		RxNoMbuf: uint64(s.rx_nombuf),
	}, nil
}

// XStat is one extended statistic.
type XStat struct {
	Name  string
	Value uint64
}

// XStats reads the port's extended statistics.
func (p *Port) XStats() ([]XStat, error) {
	port := C.uint16_t(p.id)
	n := C.rte_eth_xstats_get_names(port, nil, 0)
	if n < 0 {
		return nil, fmt.Errorf("dpdk: port %d xstats names: %w", p.id, errnoErr(n))
	}
	if n == 0 {
		return nil, nil
	}
	names := make([]C.struct_rte_eth_xstat_name, n)
	vals := make([]C.struct_rte_eth_xstat, n)
	if got := C.rte_eth_xstats_get_names(port, &names[0], C.uint(n)); got != n {
		return nil, fmt.Errorf("dpdk: port %d xstats names changed", p.id)
	}
	if got := C.rte_eth_xstats_get(port, &vals[0], C.uint(n)); got != n {
		return nil, fmt.Errorf("dpdk: port %d xstats: got %d of %d", p.id, got, n)
	}
	out := make([]XStat, n)
	for i := range out {
		out[i] = XStat{Name: C.GoString(&names[vals[i].id].name[0]), Value: uint64(vals[i].value)}
	}
	return out, nil
}
