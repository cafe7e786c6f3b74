// Package udp is one core's UDP (RFC 768, RFC 1122 §4.1; Linux's udp.c):
// sockets on the socket layer (sock.Sock), bound in a table of local
// ports, with SO_REUSEPORT groups that spread datagrams by a hash of the
// 4-tuple; input that checks Length and the checksum and queues each
// datagram whole on its socket's receive queue, bounded by SO_RCVBUF;
// output without DF, so that a datagram of up to 65,507 bytes leaves in
// IPv4 fragments; port unreachables for closed ports; ICMP errors
// reported to connected sockets.
//
// A datagram on the receive queue is an mbuf, or a chain of them when it
// was reassembled from fragments, whose data starts at the UDP payload;
// its source address and port are in the mbuf's control block. Nothing on
// the data path allocates.
//
// Every socket belongs to one core. With several cores, a host-wide
// directory of ports (Ports) tells a core that receives a datagram for a
// port it has no socket on which core has one, and the datagram is handed
// to that core (ARCHITECTURE.md §3).
package udp
