package sock

import (
	"fmt"
	"syscall"
)

// Protosw is one entry of the socket switch (struct inet_protosw): the
// socket type and protocol a transport serves, and how it creates a
// socket on its core.
type Protosw struct {
	Type     int // syscall.SOCK_STREAM, SOCK_DGRAM ...
	Protocol int // syscall.IPPROTO_TCP ...
	Create   func() ProtoOps
}

// Switch is what socket(2) looks a type and protocol up in (inetsw): each
// core's stack registers its transports, and the API layer creates
// sockets by family, type and protocol without knowing which transport
// serves them.
type Switch struct {
	entries []Protosw
}

// Register adds p; the first entry of a type is its default protocol.
func (w *Switch) Register(p Protosw) { w.entries = append(w.entries, p) }

// Create makes a socket as socket(2) and inet_create do: protocol 0 picks
// the type's default. A family other than AF_INET is EAFNOSUPPORT, a type
// nobody serves ESOCKTNOSUPPORT, a protocol the type does not have
// EPROTONOSUPPORT.
func (w *Switch) Create(family, typ, protocol int) (ProtoOps, error) {
	if family != AFInet {
		return nil, fmt.Errorf("sock: family %d: %w", family, syscall.EAFNOSUPPORT)
	}
	known := false
	for _, p := range w.entries {
		if p.Type != typ {
			continue
		}
		known = true
		if protocol == 0 || protocol == p.Protocol {
			return p.Create(), nil
		}
	}
	if !known {
		return nil, fmt.Errorf("sock: type %d: %w", typ, syscall.ESOCKTNOSUPPORT)
	}
	return nil, fmt.Errorf("sock: type %d, protocol %d: %w", typ, protocol, syscall.EPROTONOSUPPORT)
}
