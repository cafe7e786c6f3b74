package lcore

import (
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waiter is where an idle loop sleeps: an epoll set with the descriptors
// that end the sleep, all edge-triggered so that none needs reading (the
// scheme of DPDK's rte_epoll_wait): the rx interrupts of the loop's queues
// (dpdk.RxInterrupt) and an eventfd that Idler.Wake writes for posted
// work, handoffs and Stop. The loop's goroutine blocks in epoll_pwait2 on
// its thread; the Go runtime hands the thread's processor to other
// goroutines meanwhile.
type waiter struct {
	epfd   int
	wakefd int
	events [4]unix.EpollEvent // what one wait returns; only the count matters
	coarse bool               // no epoll_pwait2 (Linux < 5.11): millisecond timeouts
}

// newWaiter makes the epoll set with its eventfd.
func newWaiter() (*waiter, error) {
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
	return w, nil
}

// add makes a readable fd end the sleep.
func (w *waiter) add(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// wait blocks until an fd of the set has an event or d passes (d < 0:
// no limit), and reports how many fds had events. A signal ends it early
// too: the loop looks and sleeps again.
func (w *waiter) wait(d time.Duration) int {
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

// wake ends a wait, or the next one if none is under way.
func (w *waiter) wake() {
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
	unix.Close(w.epfd)
}
