package ipv4

import (
	"encoding/binary"

	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stack/header"
	"github.com/dpstack/dpstack/stack/route"
	"github.com/dpstack/dpstack/stat"
)

// minQuotedTransport is how much of the offending datagram's data an ICMP
// error must quote for it to be delivered: 64 bits, enough for TCP's and
// UDP's ports and TCP's sequence number (RFC 792; RFC 1122 §3.2.2).
const minQuotedTransport = 8

// ICMPError is an ICMP error message as a transport's error handler sees
// it (what Linux's icmp_unreach passes to net_protocol.err_handler).
type ICMPError struct {
	Type, Code uint8
	// Info is the message's second word: the next-hop MTU of a
	// Fragmentation Needed (RFC 1191 §4) in its low 16 bits, the pointer
	// of a Parameter Problem in its top byte.
	Info uint32
	// IP is the header of the datagram that carried the error.
	IP header.IPv4
	// Quoted is the header of our datagram that the error is about, as
	// quoted: its Total Length is the original one, longer than the quote.
	Quoted header.IPv4
	// Transport is the quoted datagram's data: at least its first 8
	// bytes (the ports, and TCP's sequence number).
	Transport []byte
}

// MTU is the next-hop MTU a Fragmentation Needed reports (RFC 1191 §4); 0
// from a router older than RFC 1191.
func (e *ICMPError) MTU() int { return int(e.Info & 0xffff) }

// ErrorHandler receives the ICMP errors about a transport's datagrams
// (Linux's net_protocol.err_handler, e.g. tcp_v4_err). b's data starts at
// the ICMP header; e describes the error and is valid until the handler
// returns or pushes onto b. The handler owns b: it consumes it, drops it
// with a reason, or hands it on whole (pushing e.IP back, an IPv4 packet
// again).
type ErrorHandler func(b *mbuf.Buf, e *ICMPError)

// RegisterErrorHandler sets the handler of ICMP errors about datagrams of
// IP protocol proto, beside its RegisterProtocol handler; a nil h removes
// it. Errors about a protocol without one are dropped
// (stat.DropICMPErrorIgnored).
func (l *Layer) RegisterErrorHandler(proto uint8, h ErrorHandler) {
	l.errHandlers[proto] = h
}

// icmpUnreach takes Destination Unreachable, Time Exceeded and Parameter
// Problem messages (icmp_unreach, icmp_socket_deliver): the quote must
// hold an IPv4 header and at least 8 bytes of its data (RFC 1122 §3.2.2),
// and the quoted datagram must be one we sent, from one of our addresses;
// the error then goes to the quoted protocol's error handler (RFC 1122
// §3.2.2.1, §3.2.2.2 "MUST be passed to the transport layer"). Linux
// checks the quote's length but not its source: an error that quotes
// another host's packet (a reflection, or an attempt to reach a socket by
// forging it) is dropped here before any transport looks at it.
func (l *Layer) icmpUnreach(b *mbuf.Buf, ip header.IPv4, icmp header.ICMPv4) {
	q := icmp.Payload()
	if len(q) < header.IPv4MinLen || q[0]>>4 != header.IPv4Version {
		l.badQuote(b)
		return
	}
	quoted := header.IPv4(q)
	hl := quoted.HeaderLen()
	if hl < header.IPv4MinLen || len(q) < hl+minQuotedTransport {
		l.badQuote(b)
		return
	}
	if l.rt.AddrKind4(quoted.SrcUint32())&route.AddrLocal == 0 {
		l.dev.Drop(b, stat.DropICMPQuoteNotOurs)
		return
	}
	h := l.errHandlers[quoted.Protocol()]
	if h == nil {
		l.dev.Drop(b, stat.DropICMPErrorIgnored)
		return
	}
	e := &l.icmpErr
	*e = ICMPError{
		Type:      icmp.Type(),
		Code:      icmp.Code(),
		Info:      binary.BigEndian.Uint32(icmp[4:8]),
		IP:        ip,
		Quoted:    quoted[:hl],
		Transport: q[hl:],
	}
	h(b, e)
}

// badQuote drops an error whose quote is too short to deliver.
func (l *Layer) badQuote(b *mbuf.Buf) {
	l.stats.ICMPInErrors.Inc()
	l.dev.Drop(b, stat.DropICMPBadQuote)
}
