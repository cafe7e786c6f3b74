// Package mbuf is dpstack's sk_buff: a view over one DPDK rte_mbuf.
//
// A *Buf is the rte_mbuf pointer itself (Buf is the C struct), so handing a
// packet from the driver to the stack and back costs nothing: no copy, no Go
// allocation, no wrapper object. The packet memory looks like this:
//
//	buf_addr                    buf_addr+data_off       +data_len         buf_addr+buf_len
//	|<------- headroom -------->|<------- data -------->|<--- tailroom --->|
//	                            ^ Bytes()[0]
//
// Headroom is data_off, exactly as skb->data - skb->head: Push moves data_off
// down to prepend a header, Pull moves it up to strip one, Put grows the data
// at the tail and Trim shrinks it. Only data_off, data_len and pkt_len change.
//
// Behind the rte_mbuf, in the mempool's private area, each Buf carries a
// 48-byte control block (skb->cb) that the owning layer uses as scratch
// space, and the links of the Queue (sk_buff_head) it is on.
//
// Ownership: a Buf has exactly one owner at a time. The receive path owns
// what rx burst returned; whoever keeps a Buf (a queue, a socket) owns it
// until it hands it on; transmitting or freeing gives it up. A Buf is freed
// exactly once, through a Cache (batched) or Free. Clone shares the data
// through the mbuf reference count, so the clone and the original are owned
// and freed separately.
//
// Every received Buf carries its receive time (RxTime, Linux's skb->tstamp
// and skb_hwtstamps), in DPDK's timestamp dynamic field: where the driver
// wrote a hardware timestamp, the poll loop converts it in place to
// wall-clock time; elsewhere the loop stores the time of the rx burst.
//
// A Buf is not safe for concurrent use: it belongs to the core that owns it.
package mbuf
