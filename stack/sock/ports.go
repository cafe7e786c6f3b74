package sock

// The ephemeral port range the transports pick from (Linux's default
// net.ipv4.ip_local_port_range; RFC 6056 §3.2 recommends 1024-65535, and
// Linux uses this narrower one).
const (
	EphemeralLow  = 32768
	EphemeralHigh = 60999
	// EphemeralPorts is how many ports the range holds.
	EphemeralPorts = EphemeralHigh - EphemeralLow + 1
)

// AddrOverlap reports whether two bound IPv4 addresses, as big-endian
// uint32s with 0 the wildcard, can receive the same packet: equal, or
// either the wildcard (inet_rcv_saddr_equal with wildcards matching). Two
// sockets bound to one port conflict where their addresses overlap.
func AddrOverlap(a, b uint32) bool { return a == 0 || b == 0 || a == b }

// PickEphemeral chooses a port for a bind to port 0 as RFC 6056 §3.3.1
// Algorithm 1 does (Linux's inet_csk_get_port and udp_lib_get_port): from
// start, a random point of the range, the next port free says is free. It
// returns 0 when none is.
func PickEphemeral(start int, free func(port uint16) bool) uint16 {
	for i := range EphemeralPorts {
		if port := uint16(EphemeralLow + (start+i)%EphemeralPorts); free(port) {
			return port
		}
	}
	return 0
}
