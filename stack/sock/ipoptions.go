package sock

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/stack/header"
)

// SetOptionBytes sets an option whose value is raw bytes: IP_OPTIONS at
// level syscall.IPPROTO_IP, the IPv4 options (RFC 791 §3.1) that every
// datagram of the socket carries after its header (ip_options_get). The
// bytes are copied, padded with End of Option List to a multiple of 4, and
// checked as Linux's ip_options_compile checks them: more than
// header.IPv4MaxOptionsLen bytes, or a malformed list (a bad length or
// pointer, an option twice), is EINVAL and changes nothing. Empty bytes
// remove the options. Record Route and Timestamp entries are left for the
// hops on the path to fill.
//
// Unlike Linux, a Loose or Strict Source Route is EINVAL: dpstack's
// transports route by the destination only, and sending to the route's
// first hop with the destination in the option (Linux's opt->faddr) is
// not done. Options no host understands are accepted, as Linux accepts
// them from a process with CAP_NET_RAW.
//
// Any other option is EINVAL (another kind) or ENOPROTOOPT (unknown).
func (s *Sock) SetOptionBytes(level, name int, val []byte) error {
	if err := checkKind("setsockopt", level, name, optBytes); err != nil {
		return err
	}
	if len(val) == 0 {
		s.Options.IPOptions = nil
		return nil
	}
	if len(val) > header.IPv4MaxOptionsLen {
		return bytesError(len(val), "longer than 40 bytes")
	}
	opts := make([]byte, (len(val)+3)&^3) // the padding is End of Option List, 0
	copy(opts, val)
	o, bad := header.ParseIPv4Options(opts)
	switch {
	case bad != 0:
		return bytesError(len(val), fmt.Sprintf("malformed at byte %d", bad-header.IPv4MinLen))
	case o.SRR != 0:
		return bytesError(len(val), "source routes are not supported")
	}
	s.Options.IPOptions = opts
	return nil
}

// GetOptionBytes reads a bytes-valued option: IP_OPTIONS, as stored
// (padded), or empty for none. The result is the caller's.
func (s *Sock) GetOptionBytes(level, name int) ([]byte, error) {
	if err := checkKind("getsockopt", level, name, optBytes); err != nil {
		return nil, err
	}
	return append([]byte(nil), s.Options.IPOptions...), nil
}

func bytesError(n int, why string) error {
	return fmt.Errorf("sock: setsockopt IP_OPTIONS (%d bytes): %s: %w", n, why, syscall.EINVAL)
}
