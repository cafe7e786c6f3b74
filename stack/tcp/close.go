package tcp

import (
	"fmt"
	"syscall"

	"github.com/dpstack/dpstack/stack/sock"
)

// Shutdown shuts one or both directions (inet_shutdown, tcp_shutdown): how
// is syscall.SHUT_RD, SHUT_WR or SHUT_RDWR. Shutting the write side sends
// a FIN after the queued data (RFC 9293 §3.10.4 CLOSE); shutting the read
// side makes RecvMsg return end of stream once the queue is read. A
// listener shut for reading stops listening; a connect in progress is
// abandoned. Errors: EINVAL for a bad how; ENOTCONN when not connected.
func (s *Sock) Shutdown(how int) error {
	bits, err := sock.ShutdownHow(how)
	if err != nil {
		return err
	}
	switch s.Common.State {
	case sock.Closed:
		return fmt.Errorf("tcp: shutdown: %w", syscall.ENOTCONN)
	case sock.Listen:
		if bits&sock.RcvShutdown != 0 {
			s.stopListen()
			s.setState(sock.Closed)
		}
	case sock.SynSent:
		s.Err = syscall.ECONNRESET
		s.done()
	default:
		s.Sock.Shutdown |= bits
		if bits&sock.SendShutdown != 0 {
			s.abandonPending()
			if s.closeState() {
				s.sendFin()
			}
		}
		s.wake(evState)
	}
	s.proto.flushEvents()
	return nil
}

// closeState moves to the state after a close of the sending side
// (tcp_close_state, RFC 9293 §3.10.4) and reports whether a FIN is due:
// SYN-RECEIVED and ESTABLISHED to FIN-WAIT-1, CLOSE-WAIT to LAST-ACK;
// SYN-SENT to CLOSED without one.
func (s *Sock) closeState() bool {
	switch s.Common.State {
	case sock.SynRecv, sock.Established:
		s.setState(sock.FinWait1)
		return true
	case sock.CloseWait:
		s.setState(sock.LastAck)
		return true
	case sock.SynSent:
		s.done()
	}
	return false
}

// sendFin queues our FIN after the data (tcp_send_fin): on the unsent
// tail segment when there is one, else on a segment of its own; then
// pushes. Without an mbuf the FIN stays due and goes with the next push.
func (s *Sock) sendFin() {
	if s.finQueued {
		return
	}
	s.finPending = true
	s.queueFin()
	s.push()
}

// queueFin puts the pending FIN on the write queue.
func (s *Sock) queueFin() {
	if !s.finPending {
		return
	}
	if tail := s.WriteQueue.Back(); tail != nil && s.sendHead != nil && tail != s.pend {
		c := cbOf(tail)
		if c.flags&(flagSYN|flagFIN) == 0 {
			c.flags |= flagFIN
			c.endSeq = c.endSeq.Add(1)
			s.snd.writeSeq = s.snd.writeSeq.Add(1)
			s.finPending, s.finQueued = false, true
			return
		}
	}
	b := s.proto.alloc()
	if b == nil {
		if !s.rtxT.on {
			s.arm(&s.rtxT, s.now().Add(s.currentRTO()))
		}
		return
	}
	s.queueSegment(b, 1, flagFIN)
	s.finPending, s.finQueued = false, true
}

// Close is close(2) (tcp_close): the user gives the socket up and must
// not touch it again. The socket is orphaned (no more callbacks) and the
// connection finishes alone: a FIN after the queued data, then the rest
// of the close handshake with its timers (FIN-WAIT-2 times out after
// Config.FinTimeout). It is aborted with a RST instead (RFC 9293 §3.10.4
// ABORT, RFC 2525 §2.17) when unread data is discarded, with SO_LINGER
// on and a time of 0, or when the sockets are at their memory limit; one
// orphan more than Config.MaxOrphans resets the oldest (trimOrphans). (A non-zero linger time, which makes a blocking
// close wait, is the API layer's to honour.) A listener resets the
// connections it never handed out.
func (s *Sock) Close() {
	if s.released {
		return
	}
	p := s.proto
	s.released = true
	s.abandonPending()
	s.Sock.Shutdown = sock.ShutdownMask
	s.orphan()
	s.events = 0
	unread := s.ReceiveQueue.Bytes() > 0
	s.purgeReceive()
	switch st := s.Common.State; {
	case st == sock.Closed:
	case st == sock.Listen:
		s.stopListen()
		s.setState(sock.Closed)
	case unread:
		p.stats.AbortOnClose.Inc()
		s.abort()
	case s.Options.LingerOn && s.Options.LingerSecs == 0:
		p.stats.AbortOnLinger.Inc()
		s.abort()
	case p.memExhausted():
		p.stats.AbortOnMemory.Inc()
		s.abort()
	default:
		if s.closeState() {
			s.sendFin()
		}
		if s.Common.State == sock.FinWait2 {
			s.arm(&s.keepT, s.now().Add(p.finTimeout))
		}
	}
	if s.Common.State == sock.Closed {
		s.destroy()
	}
	p.trimOrphans()
	p.flushEvents()
}

// Release is Close by a user that gives the socket up for good: it keeps
// no reference to it, so that once the connection is done the core may
// reuse the Sock for another (TurnDone). Linux frees a sock when its last
// reference goes; a Sock that Close gave up may still be read by whoever
// holds it, so only Release lets the core take it back. The callback API
// releases its conns' sockets this way.
func (s *Sock) Release() {
	if !s.released {
		s.reusable = true
	}
	s.Close()
}

// abort resets the connection from our side (tcp_disconnect): a RST when
// the peer may still think it connected (tcp_need_reset), then CLOSED.
func (s *Sock) abort() {
	switch s.Common.State {
	case sock.Established, sock.CloseWait, sock.FinWait1, sock.FinWait2, sock.SynRecv:
		s.sendActiveReset()
	}
	s.done()
}
