package api

import (
	"syscall"
	"time"

	"github.com/dpstack/dpstack/lcore"
	"github.com/dpstack/dpstack/stack/sock"
)

// Retrying a post to a full work queue: the first wait, the cap of the
// exponential backoff, and how many tries before giving up with EAGAIN
// (about half a second in all).
const (
	postFirstWait = 20 * time.Microsecond
	postMaxWait   = 10 * time.Millisecond
	postTries     = 60
)

// Host is what the sockets need of a dpstack host: its cores, their poll
// loops, a way to run work on a core, and socket creation through the
// core's socket switch. *stack.Host is one; api needs no transport
// package, and no more of the stack than this.
type Host interface {
	// Cores is how many cores the host runs on; they are numbered from 0.
	Cores() int
	// Loop is the poll loop of a core.
	Loop(core int) *lcore.Loop
	// NextCore is the core for the next connection a Dial opens.
	NextCore() int
	// OnCore runs fn on the core and waits for it; while the core's loop
	// does not run, it runs fn on the caller.
	OnCore(core int, fn func()) error
	// Socket creates a socket on the core (socket(2)); it runs there.
	Socket(core, family, typ, protocol int) (sock.ProtoOps, error)
}

// tcpSocket creates a TCP socket on the host's core, through the socket
// switch (socket(AF_INET, SOCK_STREAM, 0)). It runs on the core.
func tcpSocket(h Host, core int) (sock.ProtoOps, error) {
	return h.Socket(core, syscall.AF_INET, syscall.SOCK_STREAM, 0)
}

// post queues fn on loop. When the core's work queue is full it waits
// (sleeping, with exponential backoff) and tries again, a bounded number of
// times, then reports EAGAIN. It must not be called from the loop's own
// core, which would wait for itself.
func post(loop *lcore.Loop, fn func()) error {
	if loop.Post(fn) {
		return nil
	}
	wait := postFirstWait
	for range postTries {
		time.Sleep(wait)
		if loop.Post(fn) {
			return nil
		}
		wait = min(2*wait, postMaxWait)
	}
	return syscall.EAGAIN
}

// call is one reusable request to a core: a closure made once, a channel
// the core answers on, and the fields the closure reads and writes. Each
// TCPConn has one per direction, so that a Read and a Write can be in
// flight together without allocating per call. The goroutine that posts it
// owns it until the answer arrives.
type call struct {
	loop *lcore.Loop
	fn   func()        // posted to loop; runs run and answers on done
	done chan struct{} // buffered 1
	// run does the call's work on the core. It reports false to keep
	// the call waiting on the core (a Read with nothing to read yet):
	// whoever resumes it later calls fn again, or answer.
	run func(c *call) bool

	p     []byte          // argument; nil for a Read into a lent buffer
	lent  *[]byte         // the buffer a Read with a nil p borrowed from copyBufs
	flags int             // argument
	stop  <-chan struct{} // argument of a Read: closed when it must stop waiting
	n     int             // result
	err   error           // result
}

func newCall(loop *lcore.Loop, run func(c *call) bool) *call {
	c := &call{loop: loop, run: run, done: make(chan struct{}, 1)}
	c.fn = func() {
		if c.run(c) {
			c.answer()
		}
	}
	return c
}

// answer hands the results to the waiting goroutine and has the loop yield
// to it at the end of the turn. It runs on the core, once per post.
func (c *call) answer() {
	c.done <- struct{}{}
	c.loop.Readied()
}

// do runs the call on its core and waits for it. The error is post's when
// the call could not be queued; otherwise the call's results are in n and
// err.
func (c *call) do() error {
	if err := post(c.loop, c.fn); err != nil {
		return err
	}
	<-c.done
	return nil
}

// onCore runs fn on the host's core and waits for it to finish (through
// Host.Do, which runs fn on the calling goroutine while the host's loops
// are not running): for the rare operations (setup, options, shutdown,
// close) that need no reusable call. A full work queue is retried as post
// does.
func onCore(h Host, core int, fn func()) error {
	wait := postFirstWait
	for try := 0; ; try++ {
		err := h.OnCore(core, fn)
		if err == nil || !isAgain(err) || try == postTries {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, postMaxWait)
	}
}

// release runs fn on the host's core and waits for it, trying for as long
// as it takes: a socket given back must reach its core, or its packets
// would never be freed.
func release(h Host, core int, fn func()) {
	for onCore(h, core, fn) != nil {
		time.Sleep(postMaxWait)
	}
}

// notify signals ch without blocking (a wakeup already pending is enough)
// and has loop yield to the goroutine it woke at the end of the turn. It
// runs on loop's core, from the socket's callbacks.
func notify(loop *lcore.Loop, ch chan struct{}) {
	if signal(ch) {
		loop.Readied()
	}
}

// signal signals ch without blocking and reports whether it did.
func signal(ch chan struct{}) bool {
	select {
	case ch <- struct{}{}:
		return true
	default:
		return false
	}
}
