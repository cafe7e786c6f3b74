package header

// IPv4 option types: the whole type octet, copied flag, class and number
// (RFC 791 §3.1 "Options"; Router Alert from RFC 2113 §2.1).
const (
	IPOptionEOL  uint8 = 0   // End of Option List
	IPOptionNOP  uint8 = 1   // No Operation
	IPOptionRR   uint8 = 7   // Record Route
	IPOptionTS   uint8 = 68  // Internet Timestamp
	IPOptionLSRR uint8 = 131 // Loose Source and Record Route
	IPOptionSSRR uint8 = 137 // Strict Source and Record Route
	IPOptionRA   uint8 = 148 // Router Alert
)

// Flags of the Internet Timestamp option: the low 4 bits of its fourth
// octet; the high 4 bits count the modules that found no room (RFC 791
// §3.1 "Internet Timestamp").
const (
	IPOptionTSOnly    uint8 = 0 // timestamps only
	IPOptionTSAndAddr uint8 = 1 // each timestamp preceded by the address of its module
	IPOptionTSPrespec uint8 = 3 // the addresses are prespecified: only those modules stamp
)

// IPv4MaxOptionsLen is the largest option area: IHL 15 less the fixed
// header (RFC 791 §3.1).
const IPv4MaxOptionsLen = IPv4MaxHeaderLen - IPv4MinLen

// IPv4 option geometry (RFC 791 §3.1): a route or timestamp option has
// type, length and pointer octets before its first slot; the pointer
// counts octets from the option's type octet, starting at 1, so its
// smallest legal value is one past those (4 for a route, 5 for a
// timestamp, whose fourth octet holds the overflow count and flag).
const (
	ipOptRouteMinPtr = 4
	ipOptTSMinPtr    = 5
	ipOptTSMinLen    = 4
	ipOptRAMinLen    = 4
)

// IPv4Options locates the options of one header, as ParseIPv4Options found
// them (Linux's struct ip_options): each offset is that of the option's
// type octet counted from the start of the IP header, 0 when the header
// has no such option.
type IPv4Options struct {
	// RR is the Record Route option.
	RR uint8
	// TS is the Internet Timestamp option.
	TS uint8
	// SRR is the Loose or Strict Source and Record Route option; Strict
	// tells which.
	SRR    uint8
	Strict bool
	// RouterAlert is a Router Alert option whose value is 0 ("examine
	// packet", RFC 2113 §2.1).
	RouterAlert uint8
}

// ParseIPv4Options checks the option area opts of an IPv4 header
// (IPv4.Options) as Linux's ip_options_compile does, without changing it,
// and reports where the options are. On a malformed list it returns, as
// bad, the offset of the offending octet counted from the start of the IP
// header: the pointer of the Parameter Problem that answers it (RFC 792;
// RFC 1122 §3.2.2.5). bad is 0 when the list is well formed. It does not
// allocate.
//
// The rules (RFC 791 §3.1):
//   - End of Option List ends the list; what follows is padding. No
//     Operation is one octet.
//   - Every other option has a length octet counting type and length; a
//     type octet with no room for its length, a length below 2 or one
//     that runs past the area is an error at the type octet.
//   - Record Route, Timestamp and a source route appear at most once: a
//     second is an error at its type octet, as in Linux (RFC 1122
//     §3.2.1.8 leaves what two source routes mean to the implementation).
//   - A route option needs length 3 or more (else an error at its length)
//     and a pointer of 4 or more (else an error at its pointer); a
//     Timestamp needs length 4 and pointer 5. When the pointer shows room
//     (pointer <= length), a whole slot must fit behind it: 4 octets for
//     an address or a timestamp, 8 for an address and a timestamp, else
//     the error is at the pointer.
//   - A full Timestamp whose overflow count is already 15 is an error at
//     its flag octet: the count cannot be incremented (RFC 791).
//   - Router Alert needs length 4 or more (else an error at its length).
//   - Any other option is skipped by its length (RFC 1122 §3.2.1.8: a
//     host MUST ignore options it does not understand).
func ParseIPv4Options(opts []byte) (o IPv4Options, bad int) {
	for i := 0; i < len(opts); {
		typ := opts[i]
		switch typ {
		case IPOptionEOL:
			return o, 0
		case IPOptionNOP:
			i++
			continue
		}
		at := IPv4MinLen + i // the type octet, from the header's start
		if i+1 >= len(opts) {
			return o, at
		}
		l := int(opts[i+1])
		if l < 2 || l > len(opts)-i {
			return o, at
		}
		opt := opts[i : i+l]
		switch typ {
		case IPOptionLSRR, IPOptionSSRR:
			if bad := checkRoute(opt, at); bad != 0 {
				return o, bad
			}
			if o.SRR != 0 {
				return o, at
			}
			o.SRR, o.Strict = uint8(at), typ == IPOptionSSRR
		case IPOptionRR:
			if o.RR != 0 {
				return o, at
			}
			if bad := checkRoute(opt, at); bad != 0 {
				return o, bad
			}
			o.RR = uint8(at)
		case IPOptionTS:
			if o.TS != 0 {
				return o, at
			}
			if bad := checkTimestamp(opt, at); bad != 0 {
				return o, bad
			}
			o.TS = uint8(at)
		case IPOptionRA:
			if l < ipOptRAMinLen {
				return o, at + 1
			}
			if opt[2] == 0 && opt[3] == 0 {
				o.RouterAlert = uint8(at)
			}
		}
		i += l
	}
	return o, 0
}

// checkRoute checks a Record Route or source route option opt (type,
// length, pointer, slots) that starts at offset at of the header; it
// returns the offset of the bad octet, or 0.
func checkRoute(opt []byte, at int) int {
	if len(opt) < 3 {
		return at + 1
	}
	ptr := int(opt[2])
	if ptr < ipOptRouteMinPtr {
		return at + 2
	}
	if ptr <= len(opt) && ptr+3 > len(opt) {
		return at + 2
	}
	return 0
}

// checkTimestamp checks an Internet Timestamp option opt that starts at
// offset at of the header; it returns the offset of the bad octet, or 0.
func checkTimestamp(opt []byte, at int) int {
	if len(opt) < ipOptTSMinLen {
		return at + 1
	}
	ptr := int(opt[2])
	if ptr < ipOptTSMinPtr {
		return at + 2
	}
	flag := opt[3] & 0x0f
	if ptr > len(opt) {
		// Full: the module counts itself in the overflow octet, which
		// must not wrap; a prespecified list is only full.
		if flag != IPOptionTSPrespec && opt[3]>>4 == 0x0f {
			return at + 3
		}
		return 0
	}
	slot := 4
	if flag == IPOptionTSAndAddr || flag == IPOptionTSPrespec {
		slot = 8
	}
	if ptr+slot-1 > len(opt) {
		return at + 2
	}
	return 0
}
