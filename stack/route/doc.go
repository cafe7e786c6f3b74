// Package route is one core's IPv4 routing: the forwarding table (Linux
// struct fib_table), the destination entries that a lookup returns (struct
// rtable / struct dst_entry, keyed by struct flowi4) and the neighbour cache
// that turns a next hop into a MAC address (struct neighbour, the ARP table,
// with the NUD states of RFC 4861 §7.3.2 that Linux also uses for IPv4).
//
// A Table belongs to one core and is not safe for concurrent use: every core
// has its own copy of the routes, its own Dst cache and its own neighbour
// cache, fed by the ARP packets that core receives.
//
// # Routes
//
// The table holds connected subnets (AddConnected: an address of ours on a
// device), static routes through a gateway on a connected subnet (AddRoute)
// and a default route (SetDefaultGateway). Lookup finds the longest matching
// prefix and returns a *Dst: the device, the source address to use, the next
// hop and its neighbour entry. Dsts are cached per destination; a change to
// the table bumps a generation number (Linux's rt_genid) so that every Dst
// made before reports Obsolete and its holder looks up again.
//
// # Path MTU
//
// UpdatePMTU takes a path MTU learnt for a destination (RFC 1191; Linux's
// fib_nh_exception and __ip_rt_update_pmtu): it only ever lowers it, to no
// less than MinPMTU, and it holds for PMTUExpires. It is kept beside the
// Dst cache, so that a flush loses nothing, and every Dst made afterwards
// carries it as its MTU. OnPMTU lets a host pass what one core learnt to
// the others (LearnPMTU).
//
// # Neighbours
//
// Dst.Output hands a packet to the next hop's Neighbour, which adds the
// Ethernet header when the MAC address is known and queues the packet
// (bounded) while it is being resolved. Resolution requests and probes go
// out through the solicit function that ARP installs (SetSolicit); ARP
// feeds answers back with NeighTable.Update. Each Neighbour carries one
// ktime.Timer on the core's wheel, which drives retransmission, aging and
// garbage collection, so the cache needs no periodic scan.
//
// Ownership: Output takes ownership of the mbuf. It is sent, queued on the
// neighbour, or dropped through its device with a stat.DropReason.
package route
