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
// Receive is single-segment: the port is run without scatter rx, so a
// packet's headers and data are all in its first segment. A packet whose
// Total Length runs past its first segment is dropped as a bad total length.
//
// Fragments are dropped (stat.DropIPFragment) until reassembly exists, and
// Output never fragments: a packet larger than the route's MTU is dropped.
package ipv4
