package main

import "github.com/dpstack/dpstack/api"

// sockperfTCP is "sockperf server" over TCP: the stream is a sequence of
// messages, each framed by its header's length. The handler sees one
// packet at a time, so it parses as the bytes come: it collects a header
// (which may straddle packets), then passes over the payload, and for a
// message that asks for a reply sends the header back with the client bit
// cleared, then the payload as it arrives (one Send per piece, no copy
// kept). A message that is all in hand (the usual case: a ping-pong
// message in one segment) is answered in one piece instead (replyWhole),
// so that the client gets one segment, and wakes once, as from the
// kernel's server. A malformed header ends the connection with a reset,
// counted, as there is no finding the next message in the stream after
// it.
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
		if !st.flushHeader(c) {
			break
		}
		if st.have == spHeaderLen && st.left == 0 {
			st.have, st.progress = 0, st.progress+1 // a message done
		}
		if n == len(data) {
			break
		}
		if st.have < spHeaderLen {
			k := copy(st.hdr[st.have:], data[n:])
			st.have += k
			n += k
			if st.have == spHeaderLen {
				if !s.begin(c, st) {
					return n
				}
				n += st.replyWhole(c, data[n:])
			}
			continue
		}
		piece := data[n : n+min(st.left, len(data)-n)]
		k := len(piece)
		if st.replies {
			k, _ = c.Send(piece) // an error also ends the connection
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

// replyWhole sends the reply to the message whose header was just
// collected, header and payload in one piece (filled in place:
// SendBuffer, Commit), when the payload is all in rest and the send
// buffer has room for the whole; it returns the payload bytes it took
// from rest, 0 when it sent nothing, for the header and payload to go as
// usual.
func (st *spStream) replyWhole(c *api.CConn, rest []byte) int {
	total := spHeaderLen + st.left
	if !st.replies || st.left > len(rest) {
		return 0
	}
	room, err := c.SendBuffer(total)
	if err != nil || len(room) < total {
		c.Commit(0)
		return 0
	}
	copy(room, st.hdr[:])
	copy(room[spHeaderLen:], rest[:st.left])
	c.Commit(total)
	k := st.left
	st.sent, st.left = spHeaderLen, 0
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
