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
