// Package tcp is dpstack's TCP (RFC 9293): one Proto per core with its
// tables, and Sock, the connection (Linux's struct tcp_sock with its
// inet_connection_sock), built on sock.Sock.
//
// # Layout
//
// The package is split by role, as Linux's net/ipv4/tcp_*.c:
//
//   - proto.go: Proto, the per-core tables (established by 4-tuple,
//     listeners by port, the bind table, TIME-WAIT) and the demultiplexer;
//   - sock.go, ops.go, info.go: the socket and the operations the API layer
//     calls (bind, listen, accept, connect, sendmsg, recvmsg, shutdown,
//     close);
//   - cb.go: TCP's use of the mbuf control block (tcp_skb_cb);
//   - input.go: segment arrival, RFC 9293 §3.10.7, one function per step;
//   - ack.go: the ACK step (tcp_ack): send window, retransmit queue, RTT;
//   - rcv.go: the text step: in-order data, the out-of-order queue, SACK
//     blocks, the receive window;
//   - output.go: segment building, options, checksums, window selection,
//     Nagle, delayed ACKs;
//   - retransmit.go: RTO (RFC 6298) and retransmission from the queue of
//     kept originals;
//   - recovery.go: fast retransmit and NewReno fast recovery on duplicate
//     ACKs (RFC 5681 §3.2, RFC 6582) and limited transmit (RFC 3042);
//   - sack.go: the SACK scoreboard and SACK-based loss recovery (RFC
//     6675), bounded whatever blocks arrive;
//   - rack.go: RACK-TLP (RFC 8985): time-based loss detection with a
//     reordering window, and tail loss probes;
//   - congestion.go: CongestionOps and Reno (RFC 5681), the choice by
//     TCP_CONGESTION;
//   - cubic.go: CUBIC (RFC 9438);
//   - timer.go: delayed ACK, persist, keepalive and FIN-WAIT-2 timers;
//   - listen.go, request.go: listeners, RequestSock (the SYN queue) and the
//     accept queue;
//   - timewait.go: TimewaitSock;
//   - isn.go, port.go: initial sequence numbers (RFC 6528) and ephemeral
//     ports (RFC 6056), steered by RSS when the port's is predictable;
//   - flows.go: FlowTable, the host-wide directory of which core owns each
//     connection;
//   - err.go: ICMP errors about our segments (tcp_v4_err): RFC 5927
//     checks, hard and soft errors;
//   - mtu.go: the send MSS against the path MTU (tcp_v4_mtu_reduced,
//     tcp_simple_retransmit) and black hole detection (RFC 4821,
//     tcp_mtu_probing).
//
// # One core
//
// A Proto and all its sockets belong to one lcore: nothing here locks. The
// API layer posts its calls to the core's loop; the core reports back
// through the socket's sock.Callbacks, which run inside the stack's own
// processing once the segment, timer or call that caused them is done.
//
// On a host of several cores, the port decides which core a segment
// reaches, and that need not be the connection's core. Every connection a
// core has (SYN queue, established table, TIME-WAIT) is recorded in the
// host's FlowTable as that core's; a segment that finds nothing in the
// core's own tables is looked up there before any listener (listeners are
// replicated on every core) and handed to the owner (Config.Handoff) with
// its IP header pushed back. The directory is written once per connection
// and read without locks or allocation, only on that miss path.
//
// # Packets
//
// Received segments arrive from IPv4 with their data at the TCP header.
// Data that is kept is stripped to its payload and queued on the socket
// (ReceiveQueue, or the out-of-order queue), charged to the receive buffer;
// everything else is freed or dropped with a stat.DropReason. Data to send
// is copied into mbufs on the WriteQueue, one segment per mbuf, charged to
// the send buffer, and stays there until acknowledged: what goes on the
// wire is a clone that shares the data, with the headers pushed into the
// clone's headroom (Linux's skb_clone in tcp_transmit_skb); when an earlier
// clone of the same mbuf is still alive, a copy is sent instead, as Linux
// does with pskb_copy.
//
// # Time
//
// Every deadline is computed from Config.Now and kept in the socket; the
// core's timer wheel only wakes the socket, which checks its deadlines
// (timers are cancelled lazily). Tests drive a manual clock.
package tcp
