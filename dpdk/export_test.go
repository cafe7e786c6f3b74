package dpdk

// SetTxFlat makes p's tx bursts hand the driver each packet in one direct
// mbuf, as net_af_xdp's do, on a port of another driver.
func SetTxFlat(p *Port, on bool) { setTxFlat(p.id, on) }
