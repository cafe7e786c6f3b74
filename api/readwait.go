package api

import (
	"time"

	"github.com/dpstack/dpstack/lcore"
)

// readWait is the Read of a conn that waits on the core (TCPConn,
// UDPConn): a socket event runs its call again (retryRead), and a deadline
// or Close answers it with errUnparked (unparkRead, unpark), so that its
// goroutine can return.
type readWait struct {
	reader *call  // core-owned: the Read waiting, or nil
	unread func() // unpark, as a func value made once
}

// retryRead runs a waiting Read again. It runs on the core.
func (w *readWait) retryRead() {
	if cl := w.reader; cl != nil {
		w.reader = nil
		cl.fn()
	}
}

// park ends a Read's turn on the core after its receive call returned
// err (a call's run function: true when it is answered): EAGAIN makes the
// Read wait for the next socket event, unless its deadline passed or
// Close was called before it got here (stopped), whose unparkRead found
// no Read waiting: it is then answered with errUnparked. Any other result
// answers it.
func (w *readWait) park(cl *call, err error, stopped bool) bool {
	if !isAgain(err) {
		return true
	}
	if stopped {
		cl.n, cl.err = 0, errUnparked
		return true
	}
	w.reader = cl
	return false
}

// unpark answers a waiting Read with errUnparked. It runs on the core; a
// Read that was answered meanwhile is left alone.
func (w *readWait) unpark() {
	if cl := w.reader; cl != nil {
		w.reader = nil
		cl.n, cl.err = 0, errUnparked
		cl.answer()
	}
}

// unparkRead has a Read waiting on loop return, for its deadline: the
// Read's goroutine waits for nothing but the core's answer. It is the read
// deadline's onPass, and does not wait for the core. A full work queue is
// tried again for as long as the loop runs; a loop that has stopped
// answers no Read, and Close then unparks it in place (release).
func (w *readWait) unparkRead(loop *lcore.Loop) {
	for post(loop, w.unread) != nil && loop.Running() {
		time.Sleep(postMaxWait)
	}
}
