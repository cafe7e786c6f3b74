package api

import "github.com/dpstack/dpstack/stack/sock"

// A conn stages at most stageSize bytes of a Write at a time. The stage
// grows, from stageMin, only as far as the Writes need: a connection that
// exchanges small messages keeps a small one (a 64 KiB stage for every
// short connection would be garbage collected at a rate of gigabytes per
// second).
const (
	stageSize = 64 << 10
	stageMin  = 512
)

// A Write on a healthy established conn does not wait for the core: it
// copies its bytes into the conn's stage, posts them, and returns, as
// write(2) returns once the bytes are in the socket's send buffer. The
// core moves the stage into the socket (SendMsg) as room allows, and the
// stage is the Write side's again when it is empty (wbusy false). So a
// request-response exchange costs the application one wakeup, the Read's,
// instead of two. What is staged and not yet in the socket is the send
// buffer's extension: Close moves it into the socket at once, past the
// buffer's limit (sock.MsgForce), and closes the socket, which finishes
// alone as an orphan does with its send buffer after close(2); CloseWrite
// takes effect after it (after); SO_LINGER 0 discards it, and a connection
// that fails loses it, as a reset loses the send buffer. Once the conn is
// not healthy (wok false: not yet established, shut down, failed, closed),
// Writes go to the core and wait, so that they report the socket's error
// exactly.

// stageWrite stages up to stageSize bytes of p and returns how many, or 0
// when the stage is not free or the conn not healthy. Only Write calls it,
// holding wmu.
func (c *TCPConn) stageWrite(p []byte) (int, error) {
	if !c.wok.Load() || c.wbusy.Load() {
		return 0, nil
	}
	if want := min(len(p), stageSize); cap(c.stage) < want {
		c.stage = make([]byte, min(max(want, 2*cap(c.stage), stageMin), stageSize))
	}
	n := copy(c.stage[:cap(c.stage)], p)
	if err := c.postStage(n); err != nil {
		return 0, err
	}
	return n, nil
}

// postStage hands the first n bytes of the stage to the core (takeStage):
// the stage is the core's until it gives it back.
func (c *TCPConn) postStage(n int) error {
	c.stageN = n
	c.wbusy.Store(true)
	if err := post(c.loop, c.stageFn); err != nil {
		c.wbusy.Store(false)
		return err
	}
	return nil
}

// takeStage is the core's side of stageWrite: the staged bytes become
// pending, and go into the socket.
func (c *TCPConn) takeStage() {
	c.pending = c.stage[:c.stageN]
	if c.released && c.after == nil {
		c.pending = nil // closed meanwhile, without a wait for the stage
	}
	c.drain()
}

// drain moves pending bytes into the socket as far as its send buffer
// allows, or all of them once the conn is closed; WriteSpace calls it
// again. When nothing is pending, it runs what
// Close or CloseWrite left for then, and gives the stage back to Write.
// It runs on the core.
func (c *TCPConn) drain() {
	flags := 0
	if c.released {
		flags = sock.MsgForce
	}
	for len(c.pending) > 0 {
		n, err := c.ops.SendMsg(c.pending, flags)
		c.pending = c.pending[n:]
		if isAgain(err) {
			return
		}
		if err != nil {
			c.pending = nil // the socket failed: its send buffer is gone too
			c.wok.Store(false)
		}
	}
	if f := c.after; f != nil {
		c.after = nil
		f()
	}
	if c.wbusy.Load() {
		c.wbusy.Store(false)
		c.wakeWriter()
	}
}

// whenDrained runs f on the core once the pending bytes are in the socket:
// at once when there are none. It stops staging.
func (c *TCPConn) whenDrained(f func()) {
	c.wok.Store(false)
	if len(c.pending) == 0 {
		f()
		return
	}
	c.after = f
}

// startStaging lets Writes stage from now on if the socket is healthy: an
// established conn handed out by Accept or Dial. It runs on the core.
func (c *TCPConn) startStaging() {
	c.wok.Store(true)
	c.checkHealth()
}

// checkHealth lets Writes stage while the socket is established and has
// no pending error. It runs on the core, after the socket's events.
func (c *TCPConn) checkHealth() {
	sk := c.sk
	if c.released || sk.State != sock.Established || sk.Shutdown&sock.SendShutdown != 0 || sk.Err != 0 || sk.Done {
		c.wok.Store(false)
	}
}

// wakeWriter signals a Write that waits for room or for the stage. Only a
// Write that announced its wait (wwait, set before it looks at what it
// waits for) is woken: a signal nobody waits for would still make the loop
// yield its processor. It runs on the core.
func (c *TCPConn) wakeWriter() {
	if c.wwait.Load() {
		notify(c.loop, c.wsig)
	}
}
