package header

import "fmt"

// MAC is an IEEE 802 48-bit MAC address in transmission byte order.
type MAC [6]byte

// BroadcastMAC is the Ethernet broadcast address ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String returns m as six lower-case hex pairs separated by colons,
// e.g. "02:00:5e:10:00:01".
func (m MAC) String() string {
	const hexDigits = "0123456789abcdef"
	var buf [17]byte
	for i, v := range m {
		if i > 0 {
			buf[3*i-1] = ':'
		}
		buf[3*i] = hexDigits[v>>4]
		buf[3*i+1] = hexDigits[v&0x0f]
	}
	return string(buf[:])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether m is a group address: the I/G bit, the least
// significant bit of the first octet, is set (IEEE 802-2014 §8.2). The
// broadcast address is a multicast address too.
func (m MAC) IsMulticast() bool { return m[0]&0x01 != 0 }

// IsIPv4Multicast reports whether m is the Ethernet address of an IPv4
// group: 01:00:5e with the high bit of the fourth octet clear (RFC 1112
// §6.4).
func (m MAC) IsIPv4Multicast() bool {
	return m[0] == 0x01 && m[1] == 0x00 && m[2] == 0x5e && m[3]&0x80 == 0
}

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// ParseMAC parses a MAC address written as six hex pairs separated by colons
// ("02:00:5e:10:00:01") or hyphens ("02-00-5E-10-00-01"); hex digits may be
// upper or lower case. Other forms, including the 8- and 20-octet addresses
// that net.ParseMAC accepts, are errors.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return MAC{}, fmt.Errorf("header: invalid MAC address %q", s)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return MAC{}, fmt.Errorf("header: invalid MAC address %q", s)
	}
	for i := range m {
		if i > 0 && s[3*i-1] != sep {
			return MAC{}, fmt.Errorf("header: invalid MAC address %q", s)
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return MAC{}, fmt.Errorf("header: invalid MAC address %q", s)
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

// unhex returns the value of the hex digit c.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
