// Package ipv4 is one core's IPv4 layer: input (Linux ip_input.c), output
// (ip_output.c), options (ip_options.c), ICMP echo (icmp.c) and ARP
// (arp.c).
//
// A Layer belongs to one core and is not safe for concurrent use. The
// stack's ethertype dispatch hands it IPv4 packets (Input) and ARP packets
// (ARPInput) with the Ethernet header already pulled; transports register
// by protocol number (RegisterProtocol, Linux's inet_protos), with a
// handler for the ICMP errors about their datagrams (RegisterErrorHandler,
// Linux's err_handler), and send through Output (or OutputOptions, with IP
// options), which pushes the IPv4 header and hands the packet to the
// route's Dst (the neighbour pushes the Ethernet header).
//
// Ownership: every entry point takes ownership of the mbuf it is given. A
// packet is either handed on (to a protocol handler, to a Dst, to the
// device) or freed through the device: counted under a stat.DropReason when
// dropped, uncounted when consumed.
//
// A received packet's headers are in its first segment. Its data may run
// on into more: a port whose frames are larger than its pool's buffers
// receives them scattered over several (RTE_ETH_RX_OFFLOAD_SCATTER, jumbo
// frames in 2 KiB mbufs), and Total Length is checked against the whole
// chain (header.ParseIPv4Chain). The ip view a handler gets then covers
// the first segment, as for a reassembled datagram below.
//
// Fragments (reasm.go, Linux ip_fragment.c) wait in per-core reassembly
// queues keyed by source, destination, protocol and identification; with
// several cores, each datagram is reassembled on the core that a hash of
// that key picks, and the others hand its fragments there. A complete
// datagram is delivered as one mbuf chain, nothing copied: the first
// fragment's mbuf, its IP header updated to describe the whole datagram,
// then one segment per fragment. The ip view a handler gets then covers the
// header and the first segment only; Total Length is the whole datagram's.
// Consumers that read more than the first segment must walk the chain:
// ICMP does (the echo checksum is summed over every segment, and the reply
// is fragmented from the request's own buffers). TCP prefers one segment:
// the stack asks for its datagrams linear (Layer.Linearize), so a segment
// that a router fragmented is copied into one mbuf when it fits one; a
// larger one stays a chain, which TCP queues one segment at a time
// (tcp/chain.go).
//
// Output sends a datagram larger than the route's MTU as fragments when DF
// is clear (fragment.go, ip_do_fragment): each is a fresh header mbuf
// chained to clones of the payload's segments. Output sets DF, for TCP; the
// layer's own echo replies do not.
package ipv4
