// Package sock is dpstack's socket core: Linux's struct sock_common and
// struct sock (include/net/sock.h, net/core/sock.c) for transports to
// embed, and struct proto_ops as the interface they implement.
//
// A Sock carries what every connected-mode transport needs and nothing
// protocol specific:
//
//   - the addressing and state of struct sock_common (Common): family,
//     local and remote address, state, reference count, reuse bits;
//   - the three queues of struct sock, sk_receive_queue, sk_write_queue and
//     sk_backlog, as mbuf.Queue values that allocate nothing;
//   - buffer accounting: limits (RcvBuf, SndBuf, as sk_rcvbuf and
//     sk_sndbuf) and counters (RmemAlloc, WmemQueued) charged by a packet's
//     Truesize, the way Linux charges skb->truesize;
//   - the pending error, the shutdown bits and the SOCK_DONE, SOCK_DEAD and
//     SOCK_NOSPACE flags;
//   - the four events sk_data_ready, sk_write_space, sk_state_change and
//     sk_error_report, delivered to the Callbacks the API layer installs;
//   - the socket options, validated with Linux's ranges and errnos.
//
// # One core
//
// A socket belongs to the lcore that owns its flow (ARCHITECTURE.md §3). Every
// method here runs on that core and nothing in this package locks: the API
// layer hands requests to the owning core through the core's work queue,
// and the core answers through the callbacks. The one package-level table,
// the congestion-control names, is written only during program
// initialisation (see RegisterCongestion).
//
// # Ownership of packets
//
// A packet queued on one of a Sock's queues is owned by the Sock until it is
// taken off again; packets on ReceiveQueue are charged to RmemAlloc and
// packets on WriteQueue to WmemQueued. A packet is uncharged exactly when it
// leaves its queue, and freed through the free function the caller passes
// (normally the core's mbuf.Cache.Free), exactly once.
package sock
