// Package api is what applications use to talk TCP over a dpstack Host:
// blocking sockets that satisfy net.Conn and net.Listener, and callback
// sockets whose events run on the polling core itself.
//
// # Blocking sockets
//
//	ln, err := api.Listen(h, "tcp", "198.18.0.2:8080")   // a net.Listener
//	http.Serve(ln, handler)                               // unmodified net/http
//	c, err := api.Dial(ctx, h, "tcp", "198.18.0.1:9000") // a net.Conn
//
// A TCP socket belongs to one core and is touched only there
// (ARCHITECTURE.md §3). Every operation of a TCPConn or TCPListener posts a
// closure to the owning core's loop (lcore.Loop.Post) and parks the calling
// goroutine on a channel until the core answers; a blocked call never spins
// a core. A Read with nothing to read waits on the core itself: the
// socket's data-ready callback (sk_data_ready) finishes it there, so a
// waiting Read costs one trip to the core and one wakeup, as a read(2) that
// sleeps in the kernel. A Write on an established connection copies its
// bytes into the conn's stage and returns without waiting for the core, as
// write(2) returns once the bytes are in the send buffer; the core moves
// them into the socket as room allows. Writes that must wait for room park
// on a channel that the write-space callback (sk_write_space) signals.
// io.Copy to and from a TCPConn uses its ReadFrom and WriteTo, which hold
// no buffer while the connection waits. Any number of goroutines may use
// the stack at once; Read and Write of one TCPConn may run concurrently
// with each other and with Close, as with net.TCPConn.
//
// A UDPConn (ListenPacket, Dial "udp") works the same way, with a stage
// of its own: a Write of a small datagram to the destination of an
// earlier one returns once the datagram is in the conn's ring for the
// core, and a Read that goes to the core takes the datagrams queued
// behind its own for the next Reads (udpstage.go, udpbatch.go).
//
// Errors are *net.OpError values whose Err wraps a syscall.Errno, so that
// errors.Is(err, syscall.ECONNRESET) (ECONNREFUSED, ETIMEDOUT, EPIPE,
// EADDRINUSE ...) works; a passed deadline is os.ErrDeadlineExceeded (a
// net.Error whose Timeout is true); a closed socket is net.ErrClosed; Read
// at the end of the stream returns io.EOF.
//
// A Listener listens on every core of the host, one listening socket per
// core for the same port (as SO_REUSEPORT sockets in Linux, each fed by the
// flows that RSS sends to its core); Accept returns a connection from
// whichever core has one. Dial opens from the host's cores in turn
// (stack.Host.NextCore); a reply that the port puts on another core is
// handed over to the connection's core.
//
// Setting up and closing (Listen, Close, options) work whether or not the
// host's loops run (through stack.Host.Do); Read, Write and Accept need
// them running. Close every socket before the Host closes, so that its
// connection ends properly.
//
// # Callback sockets
//
// ListenCallback and DialCallback take a Handler whose methods run on the
// owning core: Accept when a connection is up, Data with a zero-copy view
// of received bytes (valid only during the call), Writable when the send
// buffer has room again, Closed when the peer finished or the connection
// failed. A CConn is used from its core only: inside the handler's methods
// or in functions run there by AfterFunc or the core's loop. Handlers must
// not block: they run the stack.
package api
