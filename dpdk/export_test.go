package dpdk

// SetTxFlat makes p's tx bursts hand the driver each packet in one direct
// mbuf, as net_af_xdp's do, on a port of another driver.
func SetTxFlat(p *Port, on bool) { setTxFlat(p.id, on) }

// ConfigureLRO is Port.configureLRO for a NIC's driver that reports info
// (not a ring port's model), on an id no test's port has.
func ConfigureLRO(got *Configured, info DevInfo, frame, room int) int {
	return (&Port{id: 31}).configureLRO(got, info, offloadSet{}, frame, room)
}
