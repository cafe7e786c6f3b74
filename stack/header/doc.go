// Package header holds wire-format views of the protocol headers dpstack
// speaks: Ethernet, ARP, IPv4, ICMPv4, UDP and TCP, plus the RFC 1071
// Internet checksum.
//
// Each header is a byte slice with accessor and setter methods
// (type TCP []byte; func (b TCP) SeqNum() uint32), used directly over packet
// memory: nothing is copied and nothing is allocated.
//
// A view is used in one of two ways:
//
//   - Received data goes through a checked constructor (ParseIPv4, ParseTCP,
//     ParseUDP, ...) that validates lengths and offsets once. After that the
//     accessors trust the view and do no further checks.
//   - Data being built for transmit is converted directly (header.TCP(buf))
//     and filled with the setters or an Encode method. The caller guarantees
//     that the slice is long enough; an accessor or setter on a slice shorter
//     than its header panics with an index error, which is a programming
//     error, never a consequence of received data that passed its checked
//     constructor.
//
// The package is a leaf: it imports only the standard library.
package header
