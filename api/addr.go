package api

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// checkNetwork accepts the networks the stack serves: "tcp" and "tcp4".
// "tcp6" is a known family the stack does not serve (EAFNOSUPPORT); anything
// else is a net.UnknownNetworkError.
func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4":
		return nil
	case "tcp6":
		return syscall.EAFNOSUPPORT
	}
	return net.UnknownNetworkError(network)
}

// parseAddr reads "host:port" where host is an IPv4 literal (an
// IPv4-mapped IPv6 one is unmapped). An empty host is the unspecified
// address when listen is true and an error when dialling: the stack
// resolves no names and has no loopback. The port is a number or a service
// name from /etc/services.
func parseAddr(address string, listen bool) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pn, err := net.LookupPort("tcp", port)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "bad port", Addr: address}
	}
	var ip netip.Addr
	switch {
	case host == "" && listen:
		ip = netip.IPv4Unspecified()
	case host == "":
		return netip.AddrPort{}, &net.AddrError{Err: "missing host", Addr: address}
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "not an IP address (dpstack resolves no names)", Addr: address}
		}
	}
	ap := sock.Unmap(netip.AddrPortFrom(ip.WithZone(""), uint16(pn)))
	if err := sock.CheckFamily(ap); err != nil {
		return netip.AddrPort{}, syscall.EAFNOSUPPORT
	}
	return ap, nil
}

// tcpAddr is ap as the net package's address type; nil for the zero
// AddrPort.
func tcpAddr(ap netip.AddrPort) *net.TCPAddr {
	if !ap.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// netAddr is tcpAddr as a net.Addr, nil for the zero AddrPort. Conns keep
// their addresses as AddrPorts and make the net package's type when asked,
// so that a connection that is never asked allocates none.
func netAddr(ap netip.AddrPort) net.Addr { return addrOrNil(tcpAddr(ap)) }

// addrOrNil keeps a nil *net.TCPAddr a nil net.Addr in errors.
func addrOrNil(a *net.TCPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
