package stat

// DropReason says why a received or queued packet was dropped. Every drop
// is counted under exactly one reason.
type DropReason uint8

// The drop reasons. Their String forms are the metric label values.
const (
	DropEthTruncated DropReason = iota
	DropEthOtherHost
	DropUnknownEtherType
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
	DropIPFragment
	DropIPUnknownProtocol
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

	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropEthTruncated:      "eth_truncated",
	DropEthOtherHost:      "eth_other_host",
	DropUnknownEtherType:  "unknown_ethertype",
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
	DropIPUnknownProtocol: "ip_unknown_protocol",
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
