package sock

import "fmt"

// CongestionNameMax is the longest congestion-control name plus one
// (TCP_CA_NAME_MAX, room for C's terminating NUL).
const CongestionNameMax = 16

// DefaultCongestion is the congestion control of a new socket
// (net.ipv4.tcp_congestion_control): CUBIC, as Linux. Reno is chosen per
// socket with the TCP_CONGESTION option (SetOptionString).
const DefaultCongestion = "cubic"

// congestionNames is the set of names TCP_CONGESTION accepts
// (tcp_cong_list). It starts with the two algorithms tcp implements, Reno
// (which Linux always builds in) and CUBIC (Linux's default), so that the
// default is always valid; the tcp package adds what else it implements
// through RegisterCongestion and maps each name to its own operations.
var congestionNames = map[string]struct{}{
	"reno":  {},
	"cubic": {},
}

// RegisterCongestion adds name to the congestion controls TCP_CONGESTION
// accepts (tcp_register_congestion_control). It is meant for package
// initialisation (an init function of the package implementing the
// algorithm): it must not run while any core uses sockets, since the set
// has no lock. An empty name, or one of CongestionNameMax bytes or more, is
// a programming error and panics.
func RegisterCongestion(name string) {
	if name == "" || len(name) >= CongestionNameMax {
		panic(fmt.Sprintf("sock: bad congestion control name %q", name))
	}
	congestionNames[name] = struct{}{}
}

// CongestionRegistered reports whether name is a registered congestion
// control.
func CongestionRegistered(name string) bool {
	_, ok := congestionNames[name]
	return ok
}
