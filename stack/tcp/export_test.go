package tcp

import "net/netip"

// SetISNFunc makes p take the initial sequence numbers of new connections
// from fn instead of RFC 6528's function: tests use it to start
// connections near the wrap of the sequence space. nil restores RFC 6528.
func (p *Proto) SetISNFunc(fn func(local, remote netip.AddrPort) uint32) {
	if fn == nil {
		p.isnHook = nil
		return
	}
	p.isnHook = func(t fourTuple) uint32 {
		return fn(netip.AddrPortFrom(u32Addr(t.laddr), t.lport), netip.AddrPortFrom(u32Addr(t.raddr), t.rport))
	}
}

// ISNForTest exposes RFC 6528's function for a 4-tuple.
func (p *Proto) ISNForTest(local, remote netip.AddrPort) uint32 {
	return p.isn(fourTuple{addrU32(local.Addr()), addrU32(remote.Addr()), local.Port(), remote.Port()})
}

// ConnectPortForTest exposes the RFC 6056 choice of a local port.
func (p *Proto) ConnectPortForTest(local, remote netip.AddrPort) (uint16, bool) {
	port, ok := p.connectPort(addrU32(local.Addr()), addrU32(remote.Addr()), remote.Port())
	if ok {
		p.binds[port] = &bindBucket{port: port, connectOnly: true}
	}
	return port, ok
}
