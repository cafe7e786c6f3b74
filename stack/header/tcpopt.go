package header

import "encoding/binary"

// TCP option kinds (RFC 9293 §3.1, §3.2; Window Scale and Timestamps from
// RFC 7323 §2.2, §3.2; SACK-Permitted and SACK from RFC 2018 §2, §3).
const (
	TCPOptionEOL           uint8 = 0 // End of Option List
	TCPOptionNOP           uint8 = 1 // No-Operation
	TCPOptionMSS           uint8 = 2 // Maximum Segment Size
	TCPOptionWS            uint8 = 3 // Window Scale
	TCPOptionSACKPermitted uint8 = 4 // SACK-Permitted
	TCPOptionSACK          uint8 = 5 // SACK blocks
	TCPOptionTS            uint8 = 8 // Timestamps
)

// TCP option lengths: the value of the length byte, kind and length
// included (RFC 9293 §3.2, RFC 7323 §2.2, §3.2, RFC 2018 §2, §3).
const (
	TCPOptionMSSLen           = 4
	TCPOptionWSLen            = 3
	TCPOptionSACKPermittedLen = 2
	TCPOptionTSLen            = 10
	// TCPOptionSACKBaseLen is the SACK option's kind and length bytes; each
	// block adds TCPOptionSACKBlockLen (RFC 2018 §3).
	TCPOptionSACKBaseLen  = 2
	TCPOptionSACKBlockLen = 8
)

// Space the option builders use, NOP padding included, so that a header
// can be sized before it is written.
const (
	// TCPMaxOptionsLen is the largest option area: Data Offset 15 less the
	// fixed header (RFC 9293 §3.1).
	TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinLen
	// TCPTSOptionSpace is what PutTSOption writes: NOP, NOP, Timestamps
	// (RFC 7323 Appendix A layout).
	TCPTSOptionSpace = 2 + TCPOptionTSLen
	// TCPMaxSACKBlocks is the most SACK blocks that fit in the option area
	// (RFC 2018 §3).
	TCPMaxSACKBlocks = 4
	// TCPMaxSACKBlocksWithTS is the most SACK blocks that fit next to a
	// Timestamps option (RFC 2018 §3).
	TCPMaxSACKBlocksWithTS = 3
	// TCPMaxWindowShift is the largest window scale shift; a larger one
	// received is used as 14 (RFC 7323 §2.3).
	TCPMaxWindowShift = 14
	// TCPMaxSYNOptionsSpace is the most PutSYNOptions writes: MSS,
	// SACK-Permitted with Timestamps, Window Scale.
	TCPMaxSYNOptionsSpace = TCPOptionMSSLen + TCPTSOptionSpace + 4
)

// SACKBlock is one block of a SACK option: the left edge (first sequence
// number of the block) and right edge (the sequence number just past it),
// as raw uint32 (RFC 2018 §3). Compare them only as wrap-safe sequence
// numbers.
type SACKBlock struct {
	Start, End uint32
}

// TCPOptions holds the options of one segment as ParseTCPOptions found
// them. Whether an option may be used (MSS, Window Scale and SACK-Permitted
// only on a SYN, RFC 9293 §3.7.1, RFC 7323 §2.2, RFC 2018 §2; Timestamps and
// SACK only when negotiated) is the caller's decision.
type TCPOptions struct {
	// MSS is the Maximum Segment Size option's value (RFC 9293 §3.7.1),
	// valid when HasMSS. It is raw: an MSS of 0 is reported as such (Linux
	// ignores it), and a peer that sent none means 536 (RFC 9293 §3.7.1),
	// both for the caller to apply.
	MSS    uint16
	HasMSS bool
	// WS is the Window Scale shift.cnt as received (RFC 7323 §2.2), valid
	// when HasWS; WindowShift clamps it.
	WS    uint8
	HasWS bool
	// SACKPermitted is set when a SACK-Permitted option was present
	// (RFC 2018 §2).
	SACKPermitted bool
	// HasTS is set when a Timestamps option was present; TSVal and TSEcr are
	// its values (RFC 7323 §3.2).
	HasTS        bool
	TSVal, TSEcr uint32
	// SACKBlocks[:NumSACK] are the SACK option's blocks in the order sent;
	// the first is the most recent (RFC 2018 §4). NumSACK is 0 without a
	// SACK option.
	SACKBlocks [TCPMaxSACKBlocks]SACKBlock
	NumSACK    int
}

// WindowShift returns the received Window Scale shift, clamped to 14: "If a
// Window Scale option is received with a shift.cnt value larger than 14,
// the TCP SHOULD log the error but MUST use 14 instead of the specified
// value" (RFC 7323 §2.3). It is meaningful only when HasWS.
func (o *TCPOptions) WindowShift() uint8 {
	return min(o.WS, TCPMaxWindowShift)
}

// SACK returns the SACK blocks, o.SACKBlocks[:o.NumSACK]. The slice points
// into o.
func (o *TCPOptions) SACK() []SACKBlock { return o.SACKBlocks[:o.NumSACK] }

// ParseTCPOptions parses opts, the option area of a TCP header
// (TCP.Options), into o, which it resets first. It reports false when the
// option list is malformed; the caller then drops the segment and counts it.
// It does not allocate.
//
// The rules (RFC 9293 §3.1, §3.2):
//   - End of Option List ends the list; whatever follows is padding.
//   - No-Operation is a single byte. Options need no alignment: "An option
//     may begin on any octet boundary" (RFC 9293 §3.1).
//   - Every other option has a length byte counting kind and length
//     (MUST-68). A length of 0 or 1, a length that runs past the end of the
//     option area, or a kind byte with no room for its length, is an
//     illegal option length (MUST-7): ParseTCPOptions reports false. This
//     departs from Linux, whose tcp_parse_options stops parsing and keeps
//     what it found: dpstack drops the segment, so that no state is taken
//     from a list it cannot read (MUST-7 suggests the harsher step of
//     resetting the connection).
//   - An option of unknown kind with a legal length is skipped (MUST-6).
//   - A known option whose length is wrong for its kind (MSS not 4, Window
//     Scale not 3, SACK-Permitted not 2, Timestamps not 10, SACK not 2+8n
//     with n in 1..4) is ignored, as Linux's tcp_parse_options ignores it,
//     and parsing goes on after it; the segment is not dropped.
//   - When an option appears twice, the last well-formed one wins, as in
//     Linux, which overwrites on every occurrence.
//
// On false, o holds whatever was parsed before the error and must not be
// used.
func ParseTCPOptions(opts []byte, o *TCPOptions) bool {
	*o = TCPOptions{}
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case TCPOptionEOL:
			return true
		case TCPOptionNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false // no room for the length byte
		}
		l := int(opts[i+1])
		if l < 2 || l > len(opts)-i {
			return false
		}
		body := opts[i+2 : i+l]
		switch kind {
		case TCPOptionMSS:
			if l == TCPOptionMSSLen {
				o.MSS = binary.BigEndian.Uint16(body)
				o.HasMSS = true
			}
		case TCPOptionWS:
			if l == TCPOptionWSLen {
				o.WS = body[0]
				o.HasWS = true
			}
		case TCPOptionSACKPermitted:
			if l == TCPOptionSACKPermittedLen {
				o.SACKPermitted = true
			}
		case TCPOptionTS:
			if l == TCPOptionTSLen {
				o.TSVal = binary.BigEndian.Uint32(body[0:4])
				o.TSEcr = binary.BigEndian.Uint32(body[4:8])
				o.HasTS = true
			}
		case TCPOptionSACK:
			n := (l - TCPOptionSACKBaseLen) / TCPOptionSACKBlockLen
			if (l-TCPOptionSACKBaseLen)%TCPOptionSACKBlockLen == 0 && n >= 1 && n <= TCPMaxSACKBlocks {
				o.SACKBlocks = [TCPMaxSACKBlocks]SACKBlock{} // a later SACK replaces an earlier one whole
				for j := 0; j < n; j++ {
					blk := body[j*TCPOptionSACKBlockLen:]
					o.SACKBlocks[j] = SACKBlock{
						Start: binary.BigEndian.Uint32(blk[0:4]),
						End:   binary.BigEndian.Uint32(blk[4:8]),
					}
				}
				o.NumSACK = n
			}
		}
		i += l
	}
	return true
}

// SYNOptionsLen returns the number of bytes PutSYNOptions writes for the
// same arguments: a multiple of 4, at most TCPMaxSYNOptionsSpace.
func SYNOptionsLen(mss uint16, ws int, sackPermitted, ts bool) int {
	n := 0
	if mss != 0 {
		n += TCPOptionMSSLen
	}
	if ts {
		n += TCPTSOptionSpace
	} else if sackPermitted {
		n += 4
	}
	if ws >= 0 {
		n += 4
	}
	return n
}

// PutSYNOptions writes into b the options of a SYN or SYN-ACK, in Linux's
// order and layout (tcp_options_write), and returns their length, a
// multiple of 4 and at most TCPMaxSYNOptionsSpace (20) bytes; b must have
// room for SYNOptionsLen bytes. It does not allocate.
//
//   - MSS, when mss is not 0: 02 04 mss (RFC 9293 §3.7.1). An MSS of 0 means
//     none is sent.
//   - With ts: SACK-Permitted and Timestamps together as
//     04 02 08 0a tsval tsecr when sackPermitted, else 01 01 08 0a tsval
//     tsecr (RFC 7323 §3.2, RFC 2018 §2).
//   - Without ts, when sackPermitted: 01 01 04 02.
//   - Window Scale, when ws >= 0: 01 03 03 ws, with ws above 14 sent as 14
//     (RFC 7323 §2.2, §2.3). ws = -1 means none.
func PutSYNOptions(b []byte, mss uint16, ws int, sackPermitted bool, ts bool, tsVal, tsEcr uint32) int {
	b = b[:SYNOptionsLen(mss, ws, sackPermitted, ts)]
	n := 0
	if mss != 0 {
		b[0], b[1] = TCPOptionMSS, TCPOptionMSSLen
		binary.BigEndian.PutUint16(b[2:4], mss)
		n = TCPOptionMSSLen
	}
	if ts {
		if sackPermitted {
			b[n], b[n+1] = TCPOptionSACKPermitted, TCPOptionSACKPermittedLen
		} else {
			b[n], b[n+1] = TCPOptionNOP, TCPOptionNOP
		}
		n += 2
		n += putTS(b[n:], tsVal, tsEcr)
	} else if sackPermitted {
		b[n], b[n+1], b[n+2], b[n+3] = TCPOptionNOP, TCPOptionNOP, TCPOptionSACKPermitted, TCPOptionSACKPermittedLen
		n += 4
	}
	if ws >= 0 {
		b[n], b[n+1], b[n+2], b[n+3] = TCPOptionNOP, TCPOptionWS, TCPOptionWSLen, uint8(min(ws, TCPMaxWindowShift))
		n += 4
	}
	return n
}

// putTS writes a bare Timestamps option, 08 0a tsval tsecr, and returns 10.
func putTS(b []byte, tsVal, tsEcr uint32) int {
	_ = b[TCPOptionTSLen-1]
	b[0], b[1] = TCPOptionTS, TCPOptionTSLen
	binary.BigEndian.PutUint32(b[2:6], tsVal)
	binary.BigEndian.PutUint32(b[6:10], tsEcr)
	return TCPOptionTSLen
}

// PutTSOption writes NOP, NOP, Timestamps (01 01 08 0a tsval tsecr), the
// aligned layout of RFC 7323 Appendix A that Linux sends on every segment
// of a connection with timestamps, and returns TCPTSOptionSpace (12). b
// must have room for 12 bytes. It does not allocate.
func PutTSOption(b []byte, tsVal, tsEcr uint32) int {
	_ = b[TCPTSOptionSpace-1]
	b[0], b[1] = TCPOptionNOP, TCPOptionNOP
	return 2 + putTS(b[2:], tsVal, tsEcr)
}

// SACKOptionLen returns the number of bytes PutSACKOption writes for n
// blocks: 0 for none, else 4+8n with n capped at TCPMaxSACKBlocks.
func SACKOptionLen(n int) int {
	if n <= 0 {
		return 0
	}
	n = min(n, TCPMaxSACKBlocks)
	return 2 + TCPOptionSACKBaseLen + n*TCPOptionSACKBlockLen
}

// PutSACKOption writes NOP, NOP and a SACK option carrying blocks, first
// block first (RFC 2018 §3, §4: the first block reports the most recently
// received data), and returns the length written, SACKOptionLen(len(blocks)).
// Nothing is written for no blocks. At most TCPMaxSACKBlocks blocks are
// written; the caller chooses how many, and sends at most
// TCPMaxSACKBlocksWithTS alongside a Timestamps option so the whole fits in
// 40 bytes (RFC 2018 §3). b must have room for the result. It does not
// allocate.
func PutSACKOption(b []byte, blocks []SACKBlock) int {
	if len(blocks) == 0 {
		return 0
	}
	if len(blocks) > TCPMaxSACKBlocks {
		blocks = blocks[:TCPMaxSACKBlocks]
	}
	l := SACKOptionLen(len(blocks))
	b = b[:l]
	b[0], b[1] = TCPOptionNOP, TCPOptionNOP
	b[2], b[3] = TCPOptionSACK, uint8(l-2)
	for j, blk := range blocks {
		p := b[4+j*TCPOptionSACKBlockLen:]
		binary.BigEndian.PutUint32(p[0:4], blk.Start)
		binary.BigEndian.PutUint32(p[4:8], blk.End)
	}
	return l
}
