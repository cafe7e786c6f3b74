package sock

// Callbacks receive a socket's events (sk_data_ready, sk_write_space,
// sk_state_change, sk_error_report). The API layer installs them in
// Sock.Callbacks: blocking sockets wake their goroutines from them, callback
// sockets call the user's handler. They run on the socket's core, from the
// transport's processing, and must not block; they may call the transport's
// operations on the same socket.
type Callbacks interface {
	// DataReady: there is new data to read, or the peer closed its side
	// (sk_data_ready).
	DataReady(s *Sock)
	// WriteSpace: the send buffer has room again (sk_write_space).
	WriteSpace(s *Sock)
	// StateChange: the socket's state changed, e.g. a connect completed
	// or a connection was closed (sk_state_change).
	StateChange(s *Sock)
	// ErrorReport: Err holds a new error (sk_error_report).
	ErrorReport(s *Sock)
}

// DataReady reports that data can be read (sk_data_ready). It does nothing
// without callbacks.
func (s *Sock) DataReady() {
	if s.Callbacks != nil {
		s.Callbacks.DataReady(s)
	}
}

// Writable reports whether the send buffer has room enough to wake a writer
// (__sk_stream_is_writeable in include/net/sock.h): less than SndBuf is
// queued, and the free space (sk_stream_wspace, SndBuf - WmemQueued) is at
// least half the queued amount (sk_stream_min_wspace, WmemQueued/2). That
// is, about a third of the buffer is free: waking writers for every freed
// byte would make them write in tiny pieces.
func (s *Sock) Writable() bool {
	return s.WmemQueued < s.SndBuf && s.SndBuf-s.WmemQueued >= s.WmemQueued>>1
}

// WriteSpace reports that the send buffer has room (sk_stream_write_space
// in net/core/stream.c): only when Writable, and then it clears NoSpace.
// It does nothing more without callbacks.
func (s *Sock) WriteSpace() {
	if !s.Writable() {
		return
	}
	s.NoSpace = false
	if s.Callbacks != nil {
		s.Callbacks.WriteSpace(s)
	}
}

// StateChange reports a change of state (sk_state_change). It does nothing
// without callbacks.
func (s *Sock) StateChange() {
	if s.Callbacks != nil {
		s.Callbacks.StateChange(s)
	}
}

// ErrorReport reports that Err was set (sk_error_report). It does nothing
// without callbacks.
func (s *Sock) ErrorReport() {
	if s.Callbacks != nil {
		s.Callbacks.ErrorReport(s)
	}
}
