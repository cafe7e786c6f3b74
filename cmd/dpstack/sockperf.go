package main

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/dpstack/dpstack/api"
)

// defaultSockperfPort is where "sockperf server" listens unless told.
const defaultSockperfPort = 11111

// The sockperf message: a 14-byte header, big-endian, then the payload.
//
//	0      8       10       14
//	| seq  | flags | length | payload ...
//
// length counts the whole message, header included; a client sends at
// least the header (sockperf's minimum --msg-size is 14).
const (
	spHeaderLen = 14
	spFlagsOff  = 8
	spLenOff    = 10
	spMaxLen    = 65536 // sockperf's largest --msg-size

	spClient      = 1 << 0 // sent by a client
	spPongRequest = 1 << 1 // the client wants this one back
)

// sockperfStats are the server's counts, shared by its cores: messages
// answered are not counted (one atomic per message would be), those
// dropped as malformed are.
type sockperfStats struct {
	malformed atomic.Uint64
}

// spHeader is a parsed message header.
type spHeader struct {
	flags  uint16
	length uint32
}

// parseSPHeader reads the header at the start of b (len(b) >= 14); ok is
// false when length is outside 14..spMaxLen.
func parseSPHeader(b []byte) (h spHeader, ok bool) {
	h.flags = binary.BigEndian.Uint16(b[spFlagsOff:])
	h.length = binary.BigEndian.Uint32(b[spLenOff:])
	return h, h.length >= spHeaderLen && h.length <= spMaxLen
}

// wantsReply: what "sockperf server" answers. ping-pong asks every
// message back, under-load a few of them, throughput none; a message that
// does not come from a client (another server's reply) is never answered.
func (h spHeader) wantsReply() bool {
	return h.flags&spClient != 0 && h.flags&spPongRequest != 0
}

// markServer clears the client bit of the header at the start of b: the
// reply is the request with that one bit changed.
func markServer(b []byte) {
	f := binary.BigEndian.Uint16(b[spFlagsOff:])
	binary.BigEndian.PutUint16(b[spFlagsOff:], f&^spClient)
}

// sockperfUDP is "sockperf server" over UDP: each datagram is one message;
// one that asks for a reply is sent back from inside the handler, in the
// reply's mbuf (SendBuffer, CommitTo), with the client bit cleared.
type sockperfUDP struct{ stats *sockperfStats }

func (s sockperfUDP) Datagram(c *api.CUDPConn, data []byte, from netip.AddrPort) {
	if len(data) < spHeaderLen {
		s.stats.malformed.Add(1)
		return
	}
	h, ok := parseSPHeader(data)
	if !ok || int(h.length) != len(data) {
		s.stats.malformed.Add(1)
		return
	}
	if !h.wantsReply() {
		return
	}
	if room, err := c.SendBuffer(len(data)); err == nil {
		copy(room, data)
		markServer(room)
		c.CommitTo(len(data), from)
		return
	}
	// Reassembled from fragments, larger than one mbuf: reply by copy.
	// The view is ours for the call, so the bit is cleared in place.
	markServer(data)
	_, _ = c.WriteTo(data, from)
}

// Error does not concern an unconnected socket: none are reported to it.
func (sockperfUDP) Error(*api.CUDPConn, error) {}
