// The LRO model: what a NIC's large receive offload does to a burst of
// received frames, for the ports of a ring pair (RingPair.OffloadLRO),
// which no hardware stands behind. A NIC with RTE_ETH_RX_OFFLOAD_TCP_LRO
// (mlx5, ixgbe's RSC, bnxt, qede, virtio ...) merges the in-order TCP
// segments of one flow into one packet and hands the driver that packet
// as a chain of its buffers; the driver may mark it RTE_MBUF_F_RX_LRO
// with the size of the segments it was made of in tso_segsz
// (rte_mbuf_core.h; mlx5 does, rewriting the headers as below). This
// model does the same within one burst, and marks what it merged:
//
//   - A segment may be merged when it is one untagged Ethernet frame of an
//     IPv4 packet without options or fragmentation, TCP with ACK and
//     perhaps PSH only, with data, its checksums good. A NIC verifies both
//     checksums before it merges; the model does too, so that a frame a
//     fault wire corrupted is handed on alone and the stack drops it. A
//     segment that still asks for its TCP checksum (transmit flags: it came
//     over a link of memory that offers checksum offload, and its field
//     holds the pseudo header's sum, RingPair.OffloadTCPChecksums) is taken
//     as good, as the receiving stack takes it.
//   - It joins the flow's open merge when it starts where the merge ends,
//     carries the same ACK number, the same header length and the same
//     option bytes (Timestamps included: Linux's tcp_gro_receive asks the
//     same), no more data than the first segment did, and the merged frame
//     stays within the configured size and IPv4's 64 KiB. A shorter
//     segment or one with PSH ends the merge after it; any other TCP
//     segment of the flow ends it before it, so that nothing is reordered.
//   - The merged packet keeps the first segment's headers; the IPv4 Total
//     Length and header checksum are rewritten, the TCP Window and PSH are
//     the last segment's, and the TCP checksum is the merged segment's,
//     made from the payload sums found while verifying (for segments that
//     came with the pseudo header's sum, that sum over the new length).
//     The later segments' headers are cut off and their buffers chained
//     to the first. Flags: RTE_MBUF_F_RX_LRO, RTE_MBUF_F_RX_IP_CKSUM_GOOD
//     and RTE_MBUF_F_RX_L4_CKSUM_GOOD, the transmit flags cleared;
//     tso_segsz is the first segment's payload.
//   - At most DPS_LRO_FLOWS merges are open at once, as a NIC has a fixed
//     number of LRO contexts; the segments of further flows pass alone.
//
// A single segment passes untouched, flags and all.
#include <string.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include "lro.h"

uint32_t dps_rx_lro[RTE_MAX_ETHPORTS];

enum { DPS_LRO_FLOWS = 8 };

// The fixed headers of a mergeable frame.
enum { ETH_LEN = RTE_ETHER_HDR_LEN, IP_LEN = sizeof(struct rte_ipv4_hdr), TCP_MIN = sizeof(struct rte_tcp_hdr) };

// A parsed frame: what kind it is, and for TCP its flow and header fields.
enum { SEG_OTHER, SEG_TCP, SEG_MERGEABLE };

struct dps_seg {
	struct rte_ipv4_hdr *ip;
	struct rte_tcp_hdr *th;
	uint32_t seq, ack;
	uint16_t thlen, plen;
	int partial;     // the TCP checksum field holds only the pseudo header's sum
	uint16_t paysum; // the payload's ones' complement sum, when not partial
};

// An open merge: the packet being built and what the next segment must
// match.
struct dps_lro_ctx {
	struct rte_mbuf *head, *tail;
	uint32_t next_seq, ack;
	uint16_t thlen, mss, win;
	uint16_t segs;
	uint8_t psh;
	int partial, closed;
	uint32_t paysum; // the merged payload's sum so far, unreduced
	uint32_t paylen;
};

// dps_lro_sum is the ones' complement sum of buf's 16-bit words in the
// host's byte order, folded to 16 bits, as __rte_raw_cksum and its reduce
// give it, but eight bytes at a time with the carries added back (RFC
// 1071 §2(C) and §4.1): a NIC sums in hardware, and the model's sum
// should cost the benchmarks as little as it can. A trailing odd byte is
// the low byte of its word, as in __rte_raw_cksum on a little-endian host
// (DPDK's targets here).
static uint16_t dps_lro_sum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t sum = 0, v;
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&v, p, 8);
		sum += v;
		sum += sum < v;
	}
	v = 0;
	memcpy(&v, p, len);
	sum += v;
	sum += sum < v;
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return __rte_raw_cksum_reduce((uint32_t)sum);
}

// dps_lro_parse reads frame m and says whether it is a TCP segment, and
// whether one the model may merge.
static int dps_lro_parse(struct rte_mbuf *m, struct dps_seg *s)
{
	if (m->nb_segs != 1 || m->data_len < ETH_LEN + IP_LEN + TCP_MIN)
		return SEG_OTHER;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	s->ip = (struct rte_ipv4_hdr *)(f + ETH_LEN);
	s->th = (struct rte_tcp_hdr *)(f + ETH_LEN + IP_LEN);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || s->ip->version_ihl != 0x45 ||
	    s->ip->next_proto_id != IPPROTO_TCP)
		return SEG_OTHER;
	uint16_t frag = rte_be_to_cpu_16(s->ip->fragment_offset);
	uint16_t tot = rte_be_to_cpu_16(s->ip->total_length);
	s->thlen = (s->th->data_off >> 4) * 4;
	if ((frag & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0 || ETH_LEN + tot != m->data_len ||
	    s->thlen < TCP_MIN || IP_LEN + s->thlen > tot)
		return SEG_TCP;
	s->plen = tot - IP_LEN - s->thlen;
	s->seq = rte_be_to_cpu_32(s->th->sent_seq);
	s->ack = rte_be_to_cpu_32(s->th->recv_ack);
	if ((s->th->tcp_flags & ~RTE_TCP_PSH_FLAG) != RTE_TCP_ACK_FLAG || s->plen == 0)
		return SEG_TCP;
	if ((m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) == 0 && rte_raw_cksum(s->ip, IP_LEN) != 0xffff)
		return SEG_TCP;
	s->partial = (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM;
	s->paysum = 0;
	if (!s->partial) {
		s->paysum = dps_lro_sum((uint8_t *)s->th + s->thlen, s->plen);
		uint32_t all = s->paysum + __rte_raw_cksum(s->th, s->thlen, 0) + rte_ipv4_phdr_cksum(s->ip, 0);
		if (__rte_raw_cksum_reduce(all) != 0xffff)
			return SEG_TCP;
	}
	return SEG_MERGEABLE;
}

static struct rte_tcp_hdr *dps_lro_tcp(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, ETH_LEN + IP_LEN);
}

// dps_lro_joins reports whether segment s of the flow continues merge c.
static int dps_lro_joins(const struct dps_lro_ctx *c, const struct dps_seg *s, uint32_t max_len)
{
	uint32_t len = c->head->pkt_len + s->plen;
	return !c->closed && s->seq == c->next_seq && s->ack == c->ack && s->thlen == c->thlen &&
	       s->partial == c->partial && s->plen <= c->mss && len <= max_len && len - ETH_LEN <= UINT16_MAX &&
	       memcmp(dps_lro_tcp(c->head) + 1, s->th + 1, s->thlen - TCP_MIN) == 0;
}

// dps_lro_start opens merge c with segment m.
static void dps_lro_start(struct dps_lro_ctx *c, struct rte_mbuf *m, const struct dps_seg *s)
{
	*c = (struct dps_lro_ctx){
		.head = m, .tail = m, .next_seq = s->seq + s->plen, .ack = s->ack, .thlen = s->thlen,
		.mss = s->plen, .win = s->th->rx_win, .segs = 1, .partial = s->partial,
		.closed = (s->th->tcp_flags & RTE_TCP_PSH_FLAG) != 0, .paysum = s->paysum, .paylen = s->plen,
	};
}

// dps_lro_append adds segment m to merge c: its headers cut off, its
// buffer chained to the merge's last.
static void dps_lro_append(struct dps_lro_ctx *c, struct rte_mbuf *m, const struct dps_seg *s)
{
	uint8_t flags = s->th->tcp_flags;
	uint16_t win = s->th->rx_win;
	rte_pktmbuf_adj(m, ETH_LEN + IP_LEN + s->thlen);
	c->tail->next = m;
	c->tail = m;
	c->head->nb_segs++;
	c->head->pkt_len += s->plen;
	// A payload that starts at an odd offset of the merged one sums with
	// its bytes swapped (RFC 1071 §2(B)).
	c->paysum += (c->paylen & 1) ? rte_bswap16(s->paysum) : s->paysum;
	c->paylen += s->plen;
	c->next_seq += s->plen;
	c->win = win;
	c->psh |= flags & RTE_TCP_PSH_FLAG;
	c->segs++;
	if (s->plen < c->mss || (flags & RTE_TCP_PSH_FLAG) != 0)
		c->closed = 1;
}

// dps_lro_finish rewrites the headers and flags of merge c's packet, if
// it merged anything, and closes c.
static void dps_lro_finish(struct dps_lro_ctx *c)
{
	struct rte_mbuf *m = c->head;
	c->head = NULL;
	if (c->segs < 2)
		return;
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, ETH_LEN);
	struct rte_tcp_hdr *th = dps_lro_tcp(m);
	ip->total_length = rte_cpu_to_be_16(m->pkt_len - ETH_LEN);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->tcp_flags |= c->psh;
	th->rx_win = c->win;
	th->cksum = 0;
	if (c->partial) {
		th->cksum = rte_ipv4_phdr_cksum(ip, 0);
	} else {
		uint32_t sum = c->paysum + __rte_raw_cksum(th, c->thlen, 0) + rte_ipv4_phdr_cksum(ip, 0);
		th->cksum = (uint16_t)~__rte_raw_cksum_reduce(sum);
	}
	m->ol_flags &= ~(RTE_MBUF_F_TX_OFFLOAD_MASK | RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
	m->ol_flags |= RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	m->tx_offload = 0;
	m->tso_segsz = c->mss;
}

// dps_lro_flow finds the open merge of s's flow, or NULL.
static struct dps_lro_ctx *dps_lro_flow(struct dps_lro_ctx *ctx, const struct dps_seg *s)
{
	for (int i = 0; i < DPS_LRO_FLOWS; i++) {
		struct dps_lro_ctx *c = &ctx[i];
		if (c->head == NULL)
			continue;
		const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(c->head, struct rte_ipv4_hdr *, ETH_LEN);
		const struct rte_tcp_hdr *th = dps_lro_tcp(c->head);
		if (ip->src_addr == s->ip->src_addr && ip->dst_addr == s->ip->dst_addr &&
		    th->src_port == s->th->src_port && th->dst_port == s->th->dst_port)
			return c;
	}
	return NULL;
}

static struct dps_lro_ctx *dps_lro_free_slot(struct dps_lro_ctx *ctx)
{
	for (int i = 0; i < DPS_LRO_FLOWS; i++)
		if (ctx[i].head == NULL)
			return &ctx[i];
	return NULL;
}

uint16_t dps_lro_merge(struct rte_mbuf **pkts, uint16_t n, uint32_t max_len)
{
	struct dps_lro_ctx ctx[DPS_LRO_FLOWS];
	memset(ctx, 0, sizeof(ctx));
	uint16_t out = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct dps_seg s;
		int kind = dps_lro_parse(m, &s);
		struct dps_lro_ctx *c = kind == SEG_OTHER ? NULL : dps_lro_flow(ctx, &s);
		if (kind == SEG_MERGEABLE && c != NULL && dps_lro_joins(c, &s, max_len)) {
			dps_lro_append(c, m, &s);
			continue;
		}
		if (c != NULL)
			dps_lro_finish(c);
		if (kind == SEG_MERGEABLE && (c != NULL || (c = dps_lro_free_slot(ctx)) != NULL))
			dps_lro_start(c, m, &s);
		pkts[out++] = m;
	}
	for (int i = 0; i < DPS_LRO_FLOWS; i++)
		if (ctx[i].head != NULL)
			dps_lro_finish(&ctx[i]);
	return out;
}
