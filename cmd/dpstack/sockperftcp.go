package main

import "github.com/dpstack/dpstack/api"

// sockperfTCP is "sockperf server" over TCP: the stream is a sequence of
// messages, each framed by its header's length. The handler sees one
// packet at a time, so it parses as the bytes come: it collects a header
// (which may straddle packets), then passes over the payload, and for a
// message that asks for a reply sends the header back with the client bit
// cleared and the payload as it arrives, the header in the same packet as
// the payload that follows it: a message that arrives whole leaves whole,
// one segment, as the kernel's sockperf server sends it with one send()
// (two would cost the client an extra packet to receive and to ACK). No
// copy of the payload is kept. A malformed header ends the connection
// with a reset, counted, as there is no finding the next message in the
// stream after it.
type sockperfTCP struct {
	serviceConf
	stats *sockperfStats
}

// spStream is a connection's parsing state, its Value.
type spStream struct {
	idleWatch
	hdr     [spHeaderLen]byte
	have    int  // header bytes collected
	sent    int  // header bytes of the reply sent
	left    int  // payload bytes of the message still to come
	replies bool // the message asks for a reply
}

func (s sockperfTCP) Accept(c *api.CConn) {
	c.SetNoDelay(true)
	s.start(c, &spStream{})
}

func (s sockperfTCP) Data(c *api.CConn, data []byte) int {
	st := c.Value().(*spStream)
	n := 0
	for {
		// A reply's header waits for the payload that follows it, unless
		// there is none (in this message, or in this packet).
		if st.have == spHeaderLen && (st.left == 0 || n == len(data)) {
			if !st.flushHeader(c) {
				break
			}
			if st.left == 0 {
				st.have, st.progress = 0, st.progress+1 // a message done
			}
		}
		if n == len(data) {
			break
		}
		if st.have < spHeaderLen {
			k := copy(st.hdr[st.have:], data[n:])
			st.have += k
			n += k
			if st.have == spHeaderLen && !s.begin(c, st) {
				return n
			}
			continue
		}
		piece := data[n : n+min(st.left, len(data)-n)]
		k := len(piece)
		if st.replies {
			k = st.reply(c, piece)
		}
		st.left -= k
		n += k
		if k < len(piece) {
			break // the send buffer is full: the rest comes back as Data
		}
	}
	return n
}

// begin starts the message whose header was just collected; false when it
// is malformed and the connection was reset.
func (s sockperfTCP) begin(c *api.CConn, st *spStream) bool {
	h, ok := parseSPHeader(st.hdr[:])
	if !ok {
		s.stats.malformed.Add(1)
		c.SetLinger(0)
		st.end(c)
		return false
	}
	st.left = int(h.length) - spHeaderLen
	st.replies = h.wantsReply()
	st.sent = 0
	if st.replies {
		markServer(st.hdr[:])
	}
	return true
}

// reply sends what is left of the reply's header and piece of its
// payload, in one buffer where they fit one, and returns how much of piece
// it took: all of it unless the send buffer filled (an error also ends
// the connection).
func (st *spStream) reply(c *api.CConn, piece []byte) int {
	k := 0
	for st.sent < spHeaderLen || k < len(piece) {
		rest := st.hdr[st.sent:]
		buf, err := c.SendBuffer(len(rest) + len(piece) - k)
		if err != nil || len(buf) == 0 {
			break
		}
		h := copy(buf, rest)
		m := copy(buf[h:], piece[k:])
		c.Commit(h + m)
		st.sent += h
		k += m
	}
	return k
}

// flushHeader sends what is left of the reply's header; false while the
// send buffer has no room for it.
func (st *spStream) flushHeader(c *api.CConn) bool {
	if !st.replies || st.have < spHeaderLen || st.sent == spHeaderLen {
		return true
	}
	k, _ := c.Send(st.hdr[st.sent:])
	st.sent += k
	return st.sent == spHeaderLen
}

// Writable sends a header that did not fit; payload that did not is
// offered again as Data.
func (s sockperfTCP) Writable(c *api.CConn) {
	st := c.Value().(*spStream)
	if st.flushHeader(c) && st.have == spHeaderLen && st.left == 0 {
		st.have, st.progress = 0, st.progress+1
	}
}

func (sockperfTCP) Closed(c *api.CConn, err error) { end(c) }
