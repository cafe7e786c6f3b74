package sock

// SpliceOps is what a stream socket offers beyond ProtoOps to move
// received data to another socket without copying it: Linux's splice(2)
// from a TCP socket (tcp_splice_read, tcp_read_sock) into another's send
// queue (do_tcp_sendpages), done in one step on the core both sockets
// belong to. The API layer asserts a ProtoOps to SpliceOps.
type SpliceOps interface {
	ProtoOps
	// Splice moves received data, whole buffers at a time, from the
	// head of this socket's receive queue to the tail of to's send
	// queue, until at least max bytes moved, to's send buffer is full
	// (to's NoSpace is then set and its WriteSpace follows), or nothing
	// is left; it returns how many bytes moved. What does not move stays
	// received and unread, so this socket's window closes when to
	// cannot send: flow control carries from one connection to the
	// other. to must be a socket of the same transport on the same
	// core (EXDEV otherwise); errors are those of a send on to (EPIPE,
	// the pending error ...), and EAGAIN when nothing moved because to's
	// send buffer is full.
	Splice(to ProtoOps, max int) (int, error)
}
