// Package faultwire is a link between two DPDK ports that misbehaves on
// purpose and reproducibly: from a seed, it drops, duplicates, corrupts,
// rate-limits, delays and reorders packets, with settings of its own for
// each direction. Tests use it to put two stacks on a lossy, slow or
// hostile network; benchmarks to measure them there.
//
// A Wire is two ring pairs, (A, X) and (Y, B). Whoever uses the wire
// configures and starts ports A and B (a stack.Host on each, or raw bursts);
// the wire owns X and Y:
//
//	user A                 Wire.Poll                  user B
//	  A ==ring==> X --[Faults A->B]--> Y ==ring==> B
//	  A <==ring== X <--[Faults B->A]-- Y <==ring== B
//
// Poll moves what X received to Y and what Y received to X, applying the
// direction's Faults (see Faults for the order of the stages). Time is
// whatever Poll is given, so tests drive the delay line, the reorder
// timeout and the rate limiter with a manual clock (ARCHITECTURE.md §7) and
// benchmarks with ktime.Now.
//
// Determinism: every random decision draws from a PCG stream of its own
// (one per fault kind and direction) seeded from New's seed. The same seed
// and the same packets in the same order give the same drops, copies,
// flipped bits, jitter and holds; decisions do not depend on wall time.
//
// Corruption flips one bit inside the IPv4 packet of an IPv4 frame, never in
// the Ethernet header and never in a non-IPv4 frame. A real link's bit
// errors in the Ethernet header (or in an ARP packet, which has no
// checksum) are caught by the frame check sequence in the receiving NIC,
// and the stack never sees the frame; over rings there is no FCS, so such a
// flip would be caught by no checksum: a flipped destination MAC is dropped
// as for another host, and a flipped source MAC or ARP field is even
// delivered. Loss at the link layer is what Drop models. Within the IPv4
// packet the bit is chosen among those that the receiver's checksum is the
// first check to catch, as in Linux's ip_rcv_core, tcp_v4_rcv and
// __udp4_lib_rcv, which check some lengths before summing:
//
//   - IPv4 header: every byte but the first (Version, IHL) and Total Length,
//     which a receiver rejects as malformed before it sums the header; any
//     other bit the header checksum catches (RFC 791 §3.1; a one-bit change
//     always changes a ones' complement sum, RFC 1071).
//   - ICMP: the whole message (RFC 792), of at least 8 bytes.
//   - TCP: the whole segment but byte 12 (Data Offset), of at least 20
//     bytes (RFC 9293 §3.1).
//   - UDP: the whole datagram but Length and Checksum, of at least 8 bytes,
//     and only when the checksum is in use (non-zero, RFC 768): a flip that
//     made the checksum zero would switch checking off.
//   - fragments and other protocols: the IPv4 header only.
//
// A corrupted packet's rx checksum offload flags are cleared, so that the
// receiver sums it in software rather than trusting a port's verdict.
//
// Ownership (mbuf's rules): a packet belongs to the wire from the rx burst
// on X or Y until the tx burst on Y or X takes it, or until the wire frees
// it (dropped, or refused by a full ring). Duplicates and corrupted packets
// are private copies in the wire's pool, never clones: a receiver writes
// into the packets it gets (an ICMP echo becomes its reply in place), and a
// sender may keep a clone's data for retransmission, so two packets sharing
// one buffer must not both reach a receiver, nor a bit flip reach a
// sender's retransmit queue.
//
// A Wire belongs to one goroutine: Poll, SetFaults and Close run there.
// Stats may be read from any goroutine. Poll allocates nothing on the Go
// heap.
package faultwire
