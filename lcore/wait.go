package lcore

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waiter is where an idle loop sleeps: an epoll set with the descriptors
// that end the sleep, all edge-triggered so that none needs reading (the
// scheme of DPDK's rte_epoll_wait): the rx interrupts of the loop's queues
// (dpdk.RxInterrupt) and an eventfd that Idler.Wake writes for posted
// work, handoffs and Stop.
//
// A loop on a thread of its own blocks that thread in epoll_pwait2. A
// loop on an ordinary goroutine must not: a thread blocked in a system
// call keeps its processor (P) until the runtime's monitor takes it back,
// up to milliseconds later, and the goroutines the loop serves wait for
// it meanwhile (measured with make perf, 2 loops on 2 CPUs: callback
// round trip p99 6 µs with the goroutine parked, 122 µs with the thread
// blocked). It parks the goroutine in Go's netpoller instead, which
// watches the epoll set's own descriptor (readable when a member has an
// event), and frees its P at once. A Wake then moves the read deadline
// into the past rather than writing the eventfd: the runtime readies the
// loop's goroutine on the waker's own P, as a channel send would, with
// no system call, and it runs there as soon as the waker blocks (an
// eventfd would wake it wherever the netpoller is next polled, on this
// VM often a halted CPU: blocking connections per second 34 k with the
// deadline, 31 k with the eventfd, averages of three runs).
type waiter struct {
	epfd   int
	wakefd int
	events [4]unix.EpollEvent // what one wait returns; only the count matters
	coarse bool               // no epoll_pwait2 (Linux < 5.11): millisecond timeouts

	// Parking: file is epfd in the netpoller, nil for a waiter that
	// blocks its thread; got is what the last poll saw.
	file   *os.File
	raw    syscall.RawConn
	pollFn func(fd uintptr) bool
	got    int
}

// newWaiter makes the epoll set with its eventfd; park says to park the
// goroutine rather than block the thread.
func newWaiter(park bool) (*waiter, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	w := &waiter{epfd: epfd, wakefd: wakefd}
	if err := w.add(wakefd); err != nil {
		w.close()
		return nil, err
	}
	if park {
		if err := w.pollable(); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// pollable hands epfd to Go's netpoller.
func (w *waiter) pollable() error {
	if err := unix.SetNonblock(w.epfd, true); err != nil {
		return err
	}
	w.file = os.NewFile(uintptr(w.epfd), "lcore-waiter")
	// A descriptor the netpoller did not take has no deadlines.
	if err := w.file.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	raw, err := w.file.SyscallConn()
	if err != nil {
		return err
	}
	w.raw, w.pollFn = raw, w.poll
	return nil
}

// poll looks for events without blocking; it reports false, to be called
// again once epfd is readable, when there are none.
func (w *waiter) poll(fd uintptr) bool {
	n, err := unix.EpollWait(int(fd), w.events[:], 0)
	w.got = n
	return n > 0 || err != nil && err != unix.EINTR
}

// add makes a readable fd end the sleep.
func (w *waiter) add(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// limit sets the timeout d (d < 0: none) of the next wait. It must come
// before the loop lets Wake see it asleep: a Wake after it must not be
// undone.
func (w *waiter) limit(d time.Duration) {
	if w.file == nil {
		return // wait's own argument
	}
	var deadline time.Time
	if d >= 0 {
		deadline = time.Now().Add(d)
	}
	w.file.SetReadDeadline(deadline)
}

// wait blocks until an fd of the set has an event, Wake, or d passes (d
// < 0: no limit; a parking waiter has it from limit), and reports how many
// fds had events. A signal ends it early too: the loop looks and sleeps
// again.
func (w *waiter) wait(d time.Duration) int {
	if w.file != nil {
		w.got = 0
		w.raw.Read(w.pollFn) // an error is the deadline, or Wake
		return w.got
	}
	if !w.coarse {
		var ts *unix.Timespec
		if d >= 0 {
			t := unix.NsecToTimespec(int64(d))
			ts = &t
		}
		n, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(w.epfd),
			uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), uintptr(unsafe.Pointer(ts)), 0, 0)
		if errno != unix.ENOSYS {
			if errno != 0 {
				return 0
			}
			return int(n)
		}
		w.coarse = true
	}
	ms := -1
	if d >= 0 {
		ms = int((d + time.Millisecond - 1) / time.Millisecond)
	}
	n, err := unix.EpollWait(w.epfd, w.events[:], ms)
	if err != nil {
		return 0
	}
	return n
}

// longAgo is a deadline that has passed.
var longAgo = time.Unix(1, 0)

// wake ends a wait, or the next one if none is under way.
func (w *waiter) wake() {
	if w.file != nil {
		w.file.SetReadDeadline(longAgo)
		return
	}
	one := [8]byte{1} // any count but 0 makes the event
	for {
		_, err := unix.Write(w.wakefd, one[:])
		// EAGAIN: the counter is full, which edge-triggering does
		// not need to be emptied for: an event is pending anyway.
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// close releases the descriptors.
func (w *waiter) close() {
	unix.Close(w.wakefd)
	if w.file != nil {
		w.file.Close() // epfd, out of the netpoller first
	} else {
		unix.Close(w.epfd)
	}
}
