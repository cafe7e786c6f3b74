package api

import (
	"errors"
	"io"
	"net"
	"os"
)

// copyBufs lend WriteTo its buffers, and ReadFrom where it cannot read
// into the stage. A buffer is borrowed only while bytes pass through it:
// a connection that waits holds none. They are kept in a bounded free
// list rather than a sync.Pool, which empties at every garbage collection:
// a steady stream of copies then allocates nothing, and the list never
// keeps more than copyBufsKept buffers.
var copyBufs = make(chan *[]byte, copyBufsKept)

const (
	copyBufSize  = 32 << 10
	copyBufsKept = 64
)

// getCopyBuf borrows a buffer from copyBufs, or makes one.
func getCopyBuf() *[]byte {
	select {
	case b := <-copyBufs:
		return b
	default:
		b := make([]byte, copyBufSize)
		return &b
	}
}

// putCopyBuf gives a buffer back, dropping it when the list is full.
func putCopyBuf(b *[]byte) {
	select {
	case copyBufs <- b:
	default:
	}
}

// giveBack returns the buffer a Read borrowed, if any.
func (cl *call) giveBack() {
	if cl.lent != nil {
		putCopyBuf(cl.lent)
		cl.lent = nil
	}
}

// WriteTo writes what the connection receives to w until the peer ends
// the stream (io.WriterTo: io.Copy from a conn uses it). It waits for data
// without a buffer: the core lends one from a shared pool when there are
// bytes to copy, and it goes back once they are in w. So a connection
// that idles while it is copied costs no buffer, where io.Copy's own is
// 32 KiB for the connection's whole life. When w is another conn of the
// same core (Dialer.SameCoreAs dials one), the bytes do not pass through Go
// at all: the received buffers move to w's send queue (spliceTo).
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	if d, ok := w.(*TCPConn); ok && c.sameCore(d) {
		n, copying, err := c.spliceTo(d)
		if !copying {
			return n, err
		}
		m, err := c.copyTo(w)
		return n + m, err
	}
	return c.copyTo(w)
}

// copyTo is WriteTo through lent buffers.
func (c *TCPConn) copyTo(w io.Writer) (int64, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	cl := c.rcall
	var total int64
	for {
		n, err := c.read(nil, 0)
		if n > 0 {
			m, werr := w.Write((*cl.lent)[:n])
			total += int64(m)
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			err = werr
		}
		cl.giveBack()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// ReadFrom sends what it reads from r until r ends (io.ReaderFrom: io.Copy
// to a conn uses it when r has no WriteTo). r reads straight into the
// conn's write stage, a copy fewer than Write makes and no buffer besides;
// the stage grows only as far as r's reads fill it. Where the stage cannot
// take bytes (the conn is not established, or shut down), the bytes go
// through Write's path, which reports the socket's error exactly. From
// another conn of the same core, the bytes move without a copy, as
// WriteTo moves them.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	if s, ok := r.(*TCPConn); ok && s.sameCore(c) {
		return s.WriteTo(c)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var total int64
	for {
		var n int
		var err error
		switch {
		case c.closed():
			return total, c.opErr("write", "write", net.ErrClosed)
		case isClosed(c.wd.wait()):
			return total, c.opErr("write", "write", os.ErrDeadlineExceeded)
		case c.wbusy.Load():
			if err := c.waitStage(); err != nil {
				return total, c.opErr("write", "write", err)
			}
			continue
		case c.wok.Load():
			n, err = c.readStage(r)
		default:
			n, err = c.readThrough(r)
		}
		total += int64(n)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readStage reads from r into the stage, which is Write's, and posts what
// it read to the core (postStage).
func (c *TCPConn) readStage(r io.Reader) (int, error) {
	if n := cap(c.stage); n < stageMin || c.stageN == n && n < stageSize {
		// The last read filled the stage: r has more than it holds.
		c.stage = make([]byte, min(max(2*n, stageMin), stageSize))
	}
	n, err := r.Read(c.stage[:cap(c.stage)])
	if n <= 0 {
		return 0, err
	}
	if perr := c.postStage(n); perr != nil {
		return 0, c.opErr("write", "write", perr)
	}
	return n, err
}

// readThrough reads from r into a borrowed buffer and writes it.
func (c *TCPConn) readThrough(r io.Reader) (int, error) {
	bp := getCopyBuf()
	defer putCopyBuf(bp)
	n, err := r.Read(*bp)
	if n > 0 {
		var werr error
		if n, werr = c.write((*bp)[:n]); werr != nil {
			return n, werr
		}
	}
	return n, err
}
