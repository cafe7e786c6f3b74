package stat

// DropReason says why a received or queued packet was dropped. Every drop
// is counted under exactly one reason.
type DropReason uint8

// The drop reasons. Their String forms are the metric label values.
const (
	DropEthTruncated DropReason = iota
	DropEthOtherHost
	DropUnknownEtherType
	DropVLANUntagged // an untagged frame on a port the stack runs on one VLAN of
	DropVLANOther    // a frame of another VLAN than the stack's
	DropARPMalformed
	DropARPOtherTarget
	DropIPTruncated
	DropIPBadVersion
	DropIPBadIHL
	DropIPBadTotalLen
	DropIPBadChecksum
	DropIPTTLZero
	DropIPOtherHost
	DropIPBadSource
	DropIPFragment // a fragment that can never be part of a datagram: empty, or not a multiple of 8 bytes before the last (RFC 791 §3.2)

	// IPv4 reassembly (RFC 791 §3.2, RFC 815; Linux ip_fragment.c). A
	// datagram discarded whole counts each fragment it held.
	DropIPFragDuplicate // a fragment that repeats data already queued, byte range for byte range
	DropIPFragOverlap   // fragments that overlap: the whole datagram is discarded
	DropIPFragTooBig    // a datagram that would exceed 65,535 bytes ("ping of death")
	DropIPFragTimeout   // a datagram still incomplete after the reassembly timeout
	DropIPFragEvicted   // a datagram evicted to bring reassembly memory under its low threshold
	DropIPUnknownProtocol
	DropIPBadOptions     // a malformed option list (answered by a Parameter Problem)
	DropIPSourceRoute    // a source route: refused (accept_source_route off), or it goes on to another host
	DropIPMcastNotJoined // to a multicast group no socket of the host joined

	// IGMP (RFC 2236, RFC 3376; Linux igmp_rcv).
	DropIGMPTruncated   // shorter than 8 bytes
	DropIGMPBadChecksum // checksum mismatch
	DropIGMPBadQuery    // a query of 9 to 11 bytes, for a non-multicast group, with sources past its end, or a General Query with sources
	DropIGMPUnknownType // a type a host does not take
	DropICMPTruncated
	DropICMPBadChecksum
	DropICMPUnhandledType
	DropICMPBroadcastEcho
	DropNoRoute
	DropNeighQueueFull
	DropNeighFailed
	DropNoMbuf
	DropNoHeadroom
	DropTxQueueFull
	DropFrameTooBig
	DropHandoffFull // the owning core's inbox was full when another core handed it a packet
	DropKNITxFull   // the kernel exception port's queue was full (stack.ExceptionPolicy)

	// TCP (RFC 9293 §3.10.7 and the RFCs it leans on). Linux's
	// SKB_DROP_REASON_TCP_* names where one exists.
	DropTCPTruncated      // shorter than a TCP header
	DropTCPBadOffset      // data offset below 5 words or past the segment
	DropTCPSplitHeader    // a segment whose TCP header runs past its first mbuf
	DropTCPBadChecksum    // checksum mismatch
	DropTCPBadFlags       // an illegal flag combination: SYN with FIN
	DropTCPBadOptions     // an option of length 0, 1 or past the header
	DropTCPNoSocket       // no socket for the segment (answered with a RST unless a RST)
	DropTCPNotUnicast     // sent to a broadcast address (RFC 1122 §4.2.3.10)
	DropTCPListenInvalid  // a RST, or a segment that is neither SYN nor ACK, to a listener
	DropTCPListenACK      // an ACK to a listener with no matching request (answered with a RST)
	DropTCPSynQueueFull   // a SYN to a listener whose SYN queue is full
	DropTCPListenOverflow // a handshake completed while the accept queue was full
	DropTCPInvalidSeq     // outside the receive window (RFC 9293 §3.10.7.4, first)
	DropTCPPAWS           // TSval older than TS.Recent (RFC 7323 §5)
	DropTCPRSTInvalid     // a RST not exactly at RCV.NXT (RFC 5961 §3)
	DropTCPSYNInvalid     // a SYN in a synchronized state (RFC 5961 §4)
	DropTCPNoACK          // no ACK bit in a synchronized state
	DropTCPAckUnsent      // acknowledges data never sent (RFC 9293 §3.10.7.4, fifth)
	DropTCPAckTooOld      // acknowledges data before SND.UNA-MAX.SND.WND (RFC 5961 §5)
	DropTCPAckInvalid     // an unacceptable ACK in SYN-SENT or SYN-RECEIVED
	DropTCPSynSent        // neither SYN nor RST in SYN-SENT
	DropTCPOldData        // every byte already received (a retransmission)
	DropTCPZeroWindow     // data beyond a zero receive window
	DropTCPRcvMem         // no receive buffer left for in-order data
	DropTCPOFOMem         // no receive buffer left for out-of-order data
	DropTCPMemLimit       // data refused: the core's sockets hold their limit (tcp_mem)
	DropTCPAfterClose     // data after the receive side was closed (answered with a RST)
	DropTCPTimeWait       // a segment that a TIME-WAIT socket does not take
	DropTCPClosing        // data for a socket that no longer reads (CLOSE-WAIT, CLOSING, LAST-ACK)
	DropTCPFlowElsewhere  // a SYN whose 4-tuple another core of the host took meanwhile

	// ICMP errors received (icmp_unreach, tcp_v4_err).
	DropICMPBadQuote         // the quote lacks an IPv4 header or 8 bytes of its data (RFC 1122 §3.2.2)
	DropICMPQuoteNotOurs     // the quoted datagram's source is not one of our addresses
	DropICMPErrorIgnored     // an error that changes nothing: no handler, TIME-WAIT, a request it does not end, an unknown code
	DropICMPErrorNoSocket    // no connection has the quoted 4-tuple
	DropICMPErrorOutOfWindow // the quoted sequence number is outside SND.UNA..SND.NXT (RFC 5927 §4.1)

	// UDP (RFC 768, RFC 1122 §4.1; Linux's __udp4_lib_rcv and
	// SKB_DROP_REASON_UDP_*).
	DropUDPBadLength   // Length below 8 or past the IP payload
	DropUDPBadChecksum // checksum mismatch (UDP_MIB_CSUMERRORS)
	DropUDPNoSocket    // no socket on the port (answered by a port unreachable)
	DropUDPRcvBuf      // the socket's receive buffer is full (UDP_MIB_RCVBUFERRORS)
	DropUDPNoMember    // a multicast datagram no socket's filter takes (UDP_MIB_IGNOREDMULTI)

	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropEthTruncated:      "eth_truncated",
	DropEthOtherHost:      "eth_other_host",
	DropUnknownEtherType:  "unknown_ethertype",
	DropVLANUntagged:      "vlan_untagged",
	DropVLANOther:         "vlan_other",
	DropARPMalformed:      "arp_malformed",
	DropARPOtherTarget:    "arp_other_target",
	DropIPTruncated:       "ip_truncated",
	DropIPBadVersion:      "ip_bad_version",
	DropIPBadIHL:          "ip_bad_ihl",
	DropIPBadTotalLen:     "ip_bad_total_length",
	DropIPBadChecksum:     "ip_bad_checksum",
	DropIPTTLZero:         "ip_ttl_zero",
	DropIPOtherHost:       "ip_other_host",
	DropIPBadSource:       "ip_bad_source",
	DropIPFragment:        "ip_fragment",
	DropIPFragDuplicate:   "ip_frag_duplicate",
	DropIPFragOverlap:     "ip_frag_overlap",
	DropIPFragTooBig:      "ip_frag_too_big",
	DropIPFragTimeout:     "ip_frag_timeout",
	DropIPFragEvicted:     "ip_frag_evicted",
	DropIPUnknownProtocol: "ip_unknown_protocol",
	DropIPBadOptions:      "ip_bad_options",
	DropIPSourceRoute:     "ip_source_route",
	DropIPMcastNotJoined:  "ip_mcast_not_joined",
	DropIGMPTruncated:     "igmp_truncated",
	DropIGMPBadChecksum:   "igmp_bad_checksum",
	DropIGMPBadQuery:      "igmp_bad_query",
	DropIGMPUnknownType:   "igmp_unknown_type",
	DropICMPTruncated:     "icmp_truncated",
	DropICMPBadChecksum:   "icmp_bad_checksum",
	DropICMPUnhandledType: "icmp_unhandled_type",
	DropICMPBroadcastEcho: "icmp_broadcast_echo",
	DropNoRoute:           "no_route",
	DropNeighQueueFull:    "neigh_queue_full",
	DropNeighFailed:       "neigh_failed",
	DropNoMbuf:            "no_mbuf",
	DropNoHeadroom:        "no_headroom",
	DropTxQueueFull:       "tx_queue_full",
	DropFrameTooBig:       "frame_too_big",
	DropHandoffFull:       "handoff_full",
	DropKNITxFull:         "kni_tx_full",
	DropTCPTruncated:      "tcp_truncated",
	DropTCPBadOffset:      "tcp_bad_data_offset",
	DropTCPSplitHeader:    "tcp_split_header",
	DropTCPBadChecksum:    "tcp_bad_checksum",
	DropTCPBadFlags:       "tcp_bad_flags",
	DropTCPBadOptions:     "tcp_bad_options",
	DropTCPNoSocket:       "tcp_no_socket",
	DropTCPNotUnicast:     "tcp_not_unicast",
	DropTCPListenInvalid:  "tcp_listen_invalid",
	DropTCPListenACK:      "tcp_listen_ack",
	DropTCPSynQueueFull:   "tcp_syn_queue_full",
	DropTCPListenOverflow: "tcp_listen_overflow",
	DropTCPInvalidSeq:     "tcp_invalid_sequence",
	DropTCPPAWS:           "tcp_paws",
	DropTCPRSTInvalid:     "tcp_rst_invalid",
	DropTCPSYNInvalid:     "tcp_syn_invalid",
	DropTCPNoACK:          "tcp_no_ack",
	DropTCPAckUnsent:      "tcp_ack_unsent_data",
	DropTCPAckTooOld:      "tcp_ack_too_old",
	DropTCPAckInvalid:     "tcp_ack_invalid",
	DropTCPSynSent:        "tcp_syn_sent_invalid",
	DropTCPOldData:        "tcp_old_data",
	DropTCPZeroWindow:     "tcp_zero_window",
	DropTCPRcvMem:         "tcp_rcv_mem",
	DropTCPOFOMem:         "tcp_ofo_mem",
	DropTCPMemLimit:       "tcp_mem_limit",
	DropTCPAfterClose:     "tcp_data_after_close",
	DropTCPTimeWait:       "tcp_time_wait",
	DropTCPClosing:        "tcp_closing",
	DropTCPFlowElsewhere:  "tcp_flow_elsewhere",

	// ICMP errors received.
	DropICMPBadQuote:         "icmp_bad_quote",
	DropICMPQuoteNotOurs:     "icmp_quote_not_ours",
	DropICMPErrorIgnored:     "icmp_error_ignored",
	DropICMPErrorNoSocket:    "icmp_error_no_socket",
	DropICMPErrorOutOfWindow: "icmp_error_out_of_window",

	// UDP.
	DropUDPBadLength:   "udp_bad_length",
	DropUDPBadChecksum: "udp_bad_checksum",
	DropUDPNoSocket:    "udp_no_socket",
	DropUDPRcvBuf:      "udp_rcvbuf",
	DropUDPNoMember:    "udp_no_member",
}

// String is the reason's metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Drops counts drops by reason for one core.
type Drops [NumDropReasons]Counter

// Inc counts one drop for reason r.
func (d *Drops) Inc(r DropReason) { d[r].Inc() }

// Get is the count for reason r.
func (d *Drops) Get(r DropReason) uint64 { return d[r].Load() }
