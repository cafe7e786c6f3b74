package udp

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/ipv4"
	"github.com/dpstack/dpstack/stat"
)

// softUnreach are the Destination Unreachable codes Linux does not report
// to a UDP socket without IP_RECVERR (icmp_err_convert's fatal = 0): net
// and host unreachable, fragmentation needed, source route failed,
// unreachable for TOS. They may pass, as a route may come back.
const softUnreach uint32 = 1<<header.ICMPv4NetUnreachable | 1<<header.ICMPv4HostUnreachable |
	1<<header.ICMPv4FragNeeded | 1<<5 | 1<<11 | 1<<12

// Err receives an ICMP error about a datagram we sent (udp_err,
// __udp4_lib_err), registered with IPv4 as UDP's error handler. The quote
// names the socket: its source is ours, its destination the peer. A
// Fragmentation Needed lowers the path MTU to the peer (RFC 1191 §4), for
// the next datagrams' fragments. Other errors go to a connected socket
// only, as the pending error its next call returns (sk_err,
// sk_error_report: ECONNREFUSED for a port unreachable, RFC 1122
// §4.1.3.3), and only the hard ones, as Linux does without IP_RECVERR;
// an unconnected socket cannot tell which of its sends failed. An error
// for a port this core has no socket on goes to the core that has it.
// Err owns b.
func (p *Proto) Err(b *mbuf.Buf, e *ipv4.ICMPError) {
	th := e.Transport
	laddr, raddr := e.Quoted.SrcUint32(), e.Quoted.DstUint32()
	lport, rport := binary.BigEndian.Uint16(th[0:2]), binary.BigEndian.Uint16(th[2:4])
	if e.Type == header.ICMPv4DestUnreachable && e.Code == header.ICMPv4FragNeeded {
		p.rt.UpdatePMTU(header.U32Addr(raddr), e.MTU())
		p.dev.Free(b)
		return
	}
	s := p.lookup(raddr, laddr, rport, lport)
	if s == nil {
		if !p.handOn(b, e.IP, raddr, laddr, rport, lport) {
			p.drop(b, stat.DropICMPErrorNoSocket)
		}
		return
	}
	errno, ok := e.Errno()
	soft := e.Type == header.ICMPv4TimeExceeded ||
		e.Type == header.ICMPv4DestUnreachable && softUnreach&(uint32(1)<<e.Code) != 0
	if !ok || soft || !s.connected {
		p.drop(b, stat.DropICMPErrorIgnored)
		return
	}
	p.stats.ICMPErrors.Inc()
	p.dev.Free(b)
	s.ReportError(errno)
}
