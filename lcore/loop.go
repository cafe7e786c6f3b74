package lcore

import (
	"github.com/dpstack/dpstack/ktime"

	"runtime"
	"sync/atomic"
	"time"

	"github.com/dpstack/dpstack/dpdk"
	"github.com/dpstack/dpstack/mbuf"
	"github.com/dpstack/dpstack/stat"
)

// Burst is the most packets a loop receives from one queue per turn.
const Burst = 32

// Per-turn bounds (ARCHITECTURE.md §5: bounded work per turn).
const (
	timerBudget = 256
	workBudget  = 64
)

// Config sets a loop up.
type Config struct {
	// Idle is the idle policy; the zero value is adaptive.
	Idle IdlePolicy
	// Shared says the loop runs on an ordinary goroutine, sharing Go's
	// processors with the application's goroutines, rather than on a
	// thread of its own (an EAL lcore): it then yields its processor
	// after turns that readied a goroutine and every few turns (see
	// Idler.Idle, Readied).
	Shared bool
	// Tick is the timer wheel's granularity; 0 means 1 ms.
	Tick time.Duration
	// WorkQueueSize bounds pending application work; 0 means 4096.
	WorkQueueSize int
	// InboxSize bounds the packets other cores have handed to the loop
	// and it has not taken yet (see Handoff); 0 means 1024.
	InboxSize int
}

// Stats count a loop's work. The loop is their only writer.
type Stats struct {
	Turns       stat.Counter `stat:"loop_turns"`
	BusyTurns   stat.Counter `stat:"loop_busy_turns"` // turns that found work: BusyTurns/Turns is the loop's load
	RxPackets   stat.Counter `stat:"loop_rx_packets"`
	TxPackets   stat.Counter `stat:"loop_tx_packets"`
	TxBursts    stat.Counter `stat:"loop_tx_bursts"`
	TimersFired stat.Counter `stat:"loop_timers_fired"`
	WorkRun     stat.Counter `stat:"loop_work_run"`
	DeferredRun stat.Counter `stat:"loop_deferred_run"` // functions run for Defer
	HandoffsIn  stat.Counter `stat:"loop_handoffs_in"`  // packets other cores handed over

	CapturePackets stat.Counter `stat:"capture_packets"` // packets the Tap copied
	CaptureDrops   stat.Counter `stat:"capture_drops"`   // packets the Tap had no room for

	// DeliveryDelay is, for one delivery in deliverySample, the time from
	// the receipt of the data (its rx burst, mbuf.Buf.RxTime) to its
	// delivery to the application: a callback's Data or Datagram, or a
	// blocking read taking it on the core (ObserveDelivery).
	DeliveryDelay stat.Histogram `stat:"loop_delivery_delay"`
}

type rxQueue struct {
	port  *dpdk.Port
	queue uint16
	// hidden keeps the queue's bursts from the Tap (HideFromTap); here,
	// in queue's padding, the struct stays one cache line
	hidden bool
	pkts   []*mbuf.Buf // C memory: see mbuf.NewBurst
	op     int         // its burst in the loop's batch
	input  func(pkts []*mbuf.Buf)
	hw     *hwClock // the port's clock if it timestamps in hardware
}

// cacheFree is a cache whose held-back frees the loop makes in its batch.
type cacheFree struct {
	c  *mbuf.Cache
	op int
}

// Loop is one core's poll loop. A turn's I/O is one dpdk.Batch, one cgo
// call: it sends what the previous turn queued, makes the frees it held
// back, and receives on every rx queue. What a turn queues is sent at the
// start of the next, or before the loop gives up its CPU (an idle sleep,
// a yield), whichever comes first.
type Loop struct {
	wheel  *ktime.Wheel
	work   *WorkQueue
	idler  *Idler
	io     *dpdk.Batch
	clock  turnClock
	rx     []rxQueue
	tx     []*TxBatch
	caches []cacheFree
	// beforeOutput are the BeforeOutput functions, run when the turn's
	// output is staged
	beforeOutput []func()
	now          ktime.Time
	lastRx       int64 // the receive time of the last bursts (rxWall)
	// deliveries counts ObserveDelivery's calls, to sample them
	deliveries uint64
	tap        Tap // packet capture, or nil (SetTap)
	// the burst being input: its receive time, and its port's clock if
	// that timestamps in hardware (StampRx)
	rxAt int64
	rxHW *hwClock
	// intr are the rx queues' interrupts when every queue has one
	// (Run: watchRx), armed around a sleep; interruptible says that
	// the loop sleeps until one of them, a Wake or a timer, rather
	// than in steps.
	intr          []*dpdk.RxInterrupt
	interruptible atomic.Bool
	// deferred is what Defer queued for this turn; spare is the other
	// half of the pair the two swap between, so that what deferred work
	// defers runs in the next turn.
	deferred, spare []func()
	// inbox holds the packets other cores handed over (Handoff), taken
	// by inboxIn every turn; nil until SetInbox.
	inbox     *Queue[*mbuf.Buf]
	inboxIn   func(pkts []*mbuf.Buf)
	inboxPkts []*mbuf.Buf
	inboxSize int
	stop      atomic.Bool
	running   atomic.Bool
	done      chan struct{}
	stats     Stats
}

// NewLoop returns a loop with nothing attached yet.
func NewLoop(cfg Config) *Loop {
	tick := cfg.Tick
	if tick <= 0 {
		tick = time.Millisecond
	}
	wq := cfg.WorkQueueSize
	if wq <= 0 {
		wq = 4096
	}
	inbox := cfg.InboxSize
	if inbox <= 0 {
		inbox = 1024
	}
	now := ktime.Now()
	l := &Loop{
		wheel:     ktime.NewWheel(tick, now),
		work:      NewWorkQueue(wq),
		idler:     NewIdler(cfg.Idle, cfg.Shared),
		io:        dpdk.NewBatch(),
		clock:     newTurnClock(dpdk.TSCHz()),
		now:       now,
		inboxSize: inbox,
		deferred:  make([]func(), 0, deferCap),
		spare:     make([]func(), 0, deferCap),
		done:      make(chan struct{}),
	}
	l.idler.beforeYield = l.release
	return l
}

// AddRx makes the loop poll queue q of port and hand each burst to input,
// which takes ownership of the packets and gives each its receive time
// with StampRx (mbuf.Buf.RxTime: the port's hardware timestamp where it
// was configured with dpdk.RxOffloadTimestamp, else the burst's). Call
// before the loop runs.
func (l *Loop) AddRx(port *dpdk.Port, q uint16, input func(pkts []*mbuf.Buf)) {
	l.rx = append(l.rx, rxQueue{port: port, queue: q, pkts: mbuf.NewBurst(Burst), op: l.io.AddRx(port, q), input: input,
		hw: newHWClock(port)})
}

// AddTx returns the loop's batch for tx queue q of port, sent with the next
// turn's I/O (see Loop). Call before the loop runs.
func (l *Loop) AddTx(port *dpdk.Port, q uint16) *TxBatch {
	t := &TxBatch{port: port, queue: q, pkts: mbuf.NewBurst(2 * Burst), op: l.io.AddTx(port, q), loop: l}
	l.tx = append(l.tx, t)
	return t
}

// SetInbox gives the loop an inbox for packets that other cores hand over
// (Handoff): every turn, after the rx bursts and before the timers, the
// loop takes up to a burst of them and hands it to input, which takes
// ownership of the packets. Call before the loop runs.
func (l *Loop) SetInbox(input func(pkts []*mbuf.Buf)) {
	l.inbox = NewQueue[*mbuf.Buf](l.inboxSize)
	l.inboxIn = input
	l.inboxPkts = make([]*mbuf.Buf, Burst)
}

// Handoff queues b for the loop's inbox and wakes the loop: another core
// gives the loop a packet that belongs to it. On true the loop owns b; on
// false (no inbox, or the inbox is full) the caller still does. It is safe
// from any goroutine, does not block and does not allocate.
func (l *Loop) Handoff(b *mbuf.Buf) bool {
	if l.inbox == nil || !l.inbox.Push(b) {
		return false
	}
	l.idler.Wake()
	return true
}

// DrainInbox frees the packets still in the inbox and returns how many: at
// shutdown, with every loop stopped.
func (l *Loop) DrainInbox() int {
	if l.inbox == nil {
		return 0
	}
	n := 0
	for {
		b, ok := l.inbox.Pop()
		if !ok {
			return n
		}
		b.Free()
		n++
	}
}

// AddCache makes the loop return c's held-back frees to the pool with
// every turn's I/O.
func (l *Loop) AddCache(c *mbuf.Cache) {
	l.caches = append(l.caches, cacheFree{c: c, op: l.io.AddFree()})
}

// BeforeOutput makes the loop run fn each time it stages what it queued
// for the port (at the start of every turn, and in Flush): a transport
// sends there what it held back for the rest of the turn, as TCP does an
// ACK that a reply of the application's, later in the same turn, may yet
// carry. Call before the loop runs.
func (l *Loop) BeforeOutput(fn func()) { l.beforeOutput = append(l.beforeOutput, fn) }

// ktime.Wheel is the loop's timer wheel; only the loop's own core may use it.
func (l *Loop) Wheel() *ktime.Wheel { return l.wheel }

// Now is the time of this turn's I/O.
func (l *Loop) Now() ktime.Time { return l.now }

// Clock points at the time of this turn's I/O (Now), for the loop's own
// core to read in place where it reads the time several times a packet:
// a load instead of a call through a func value.
func (l *Loop) Clock() *ktime.Time { return &l.now }

// Stats are the loop's counters.
func (l *Loop) Stats() *Stats { return &l.stats }

// IdleSleeps is how many times the loop slept for want of work.
func (l *Loop) IdleSleeps() uint64 { return l.idler.Sleeps() }

// Post queues fn to run on the loop's core within a turn, from any
// goroutine, and wakes the loop. It reports false when the queue is full.
func (l *Loop) Post(fn func()) bool {
	if !l.work.Post(fn) {
		return false
	}
	l.idler.Wake()
	return true
}

// deferCap is the room Defer starts with; it grows as needed.
const deferCap = 64

// Defer queues fn to run on the loop later in this turn, after the timers
// and before the posted work (in the next turn, when the deferred
// functions are running already): work that code running on the loop
// wants done outside its caller, as a Linux driver raises a softirq. Only
// the loop's own goroutine may call it. It takes no lock and makes no
// atomic operation, which Post, being safe from any goroutine, must.
func (l *Loop) Defer(fn func()) { l.deferred = append(l.deferred, fn) }

// runDeferred runs what Defer queued before it started and reports how
// many.
func (l *Loop) runDeferred() int {
	run := l.deferred
	if len(run) == 0 {
		return 0
	}
	l.deferred = l.spare
	for i, fn := range run {
		fn()
		run[i] = nil
	}
	l.spare = run[:0]
	return len(run)
}

// Readied records that the current turn made an application goroutine
// runnable (answered a call it waits for, signalled its channel): a loop
// that shares its processor (Config.Shared) then yields it, after the
// turn's input or at the end of the turn, so that the goroutine runs at
// once. Only the loop's own goroutine calls it, from the turn's work.
func (l *Loop) Readied() { l.idler.Readied() }

// Poll runs one turn and sends what it queued, and reports whether it
// found work. Tests drive a loop with it.
func (l *Loop) Poll() bool {
	busy := l.turn()
	l.Flush()
	return busy
}

// turn runs one turn: the I/O, the input, the timers and the posted work.
// What the turn queues waits for the next turn's I/O.
func (l *Loop) turn() bool {
	l.stats.Turns.Inc()
	l.stageOutput()
	for i := range l.rx {
		l.io.Set(l.rx[i].op, l.rx[i].pkts)
	}
	l.now = l.clock.at(l.io.Run(), l.now)
	l.sent()
	busy := false
	stamped := false
	for i := range l.rx {
		q := &l.rx[i]
		if q.hw != nil {
			q.hw.calibrate(&l.clock, l.now)
		}
		if n := l.io.Done(q.op); n > 0 {
			busy = true
			l.stats.RxPackets.Add(uint64(n))
			if !stamped {
				l.rxAt, stamped = l.rxWall(), true
			}
			l.rxHW = q.hw
			if l.tap != nil && !q.hidden {
				l.tapped(l.tap.Packets(q.pkts[:n], l.rxAt, false))
			}
			q.input(q.pkts[:n])
		}
	}
	if l.inbox != nil {
		if n := l.inbox.PopBurst(l.inboxPkts); n > 0 {
			busy = true
			l.stats.HandoffsIn.Add(uint64(n))
			l.inboxIn(l.inboxPkts[:n])
		}
	}
	if l.idler.yieldNow() {
		// The input woke application goroutines (a Read got its data):
		// send what it queued and let them run now, before the timers
		// and the posted work, so that what they post in answer (the
		// Write of a reply) is taken in this same turn.
		l.transmit()
		runtime.Gosched()
	}
	if n := l.wheel.Advance(l.now, timerBudget); n > 0 {
		busy = true
		l.stats.TimersFired.Add(uint64(n))
	}
	if n := l.runDeferred(); n > 0 {
		busy = true
		l.stats.DeferredRun.Add(uint64(n))
	}
	if n := l.work.Drain(workBudget); n > 0 {
		busy = true
		l.stats.WorkRun.Add(uint64(n))
	}
	if busy {
		l.stats.BusyTurns.Inc()
	}
	return busy
}

// Flush sends what the loop queued and returns the frees it held back to
// their pools, in one cgo call; when there is nothing to do, it makes none.
func (l *Loop) Flush() {
	if l.stageOutput() {
		l.io.Run()
		l.sent()
	}
}

// transmit sends what the loop queued, if anything, and the frees it held
// back with it; unlike Flush, it makes no cgo call for frees alone. The
// idler runs it before the loop yields its CPU.
func (l *Loop) transmit() {
	if l.txPending() {
		l.Flush()
	}
}

// release is transmit, with what the BeforeOutput functions hold back:
// the loop is about to give up its CPU for longer than the rest of a turn.
// (The yield after the input, in the middle of a turn, is a plain
// transmit: the goroutines it lets run may answer within the turn.)
func (l *Loop) release() {
	for _, fn := range l.beforeOutput {
		fn()
	}
	l.transmit()
}

// stageOutput gives the batch the packets queued for sending and the frees
// held back, and reports whether there were any.
func (l *Loop) stageOutput() bool {
	for _, fn := range l.beforeOutput {
		fn()
	}
	queued := false
	for _, t := range l.tx {
		if t.n > 0 {
			t.tap()
			l.io.Set(t.op, t.pkts[:t.n])
			queued = true
		}
	}
	for _, c := range l.caches {
		if dead := c.c.Release(); len(dead) > 0 {
			l.io.Set(c.op, dead)
			queued = true
		}
	}
	return queued
}

// sent settles the tx batches after the batch ran.
func (l *Loop) sent() {
	for _, t := range l.tx {
		if t.n > 0 {
			t.sent(l.io.Done(t.op))
		}
	}
}

// Run polls until Stop, idling by the loop's policy on empty turns (see
// IdleAdaptive, and sleep). Run it on the lcore's thread (RunOnLcore) or
// through Go, once; Close the loop after Stop.
func (l *Loop) Run() {
	l.running.Store(true)
	if !l.idler.shared {
		lcoreLoops.Add(1)
	}
	defer func() {
		if !l.idler.shared {
			lcoreLoops.Add(-1)
		}
		l.running.Store(false)
		close(l.done)
	}()
	if l.idler.policy == IdleAdaptive {
		l.watchRx()
	}
	for !l.stop.Load() {
		if l.idler.Idle(l.turn()) {
			l.sleep()
		}
	}
	l.Flush()
}

// watchRx asks every rx queue's port for the queue's interrupt and
// watches them all: the loop can then sleep until a packet arrives. If one
// queue has none (a driver without rx interrupts), the loop sleeps in
// steps instead, as a packet on that queue would wake nobody.
func (l *Loop) watchRx() {
	intr := make([]*dpdk.RxInterrupt, 0, len(l.rx))
	for _, q := range l.rx {
		ri, err := q.port.RxInterrupt(q.queue)
		if err != nil {
			return
		}
		intr = append(intr, ri)
	}
	for _, ri := range intr {
		if l.idler.Watch(ri.FD()) != nil {
			return
		}
	}
	l.intr = intr
	l.interruptible.Store(true)
}

// Interruptible reports whether the running loop sleeps until a packet
// arrives (every rx queue has an interrupt) rather than in steps. It is
// false until Run has looked at the queues; safe from any goroutine.
func (l *Loop) Interruptible() bool { return l.interruptible.Load() }

// sleep is what an adaptive loop does when Idle says to: DPDK
// l3fwd-power's sequence. It arms the rx interrupts, runs one more turn
// for what arrived before they were armed (and goes back to polling if
// that found work), sends what is queued, sleeps until an interrupt, a
// Wake or the next timer, and disarms. Without interrupts, or with
// packets that a full tx queue would not take (nothing would wake the
// loop to send them), it sleeps one step of the backoff instead, or until
// the next timer if that comes first.
func (l *Loop) sleep() {
	for _, ri := range l.intr {
		ri.Arm()
	}
	interruptible := l.interruptible.Load()
	if interruptible && l.turn() {
		l.disarm()
		l.idler.Woke()
		return
	}
	l.Flush()
	d := l.untilTimer()
	if !interruptible || l.txPending() {
		if step := l.idler.Step(); d < 0 || step < d {
			d = step
		}
	}
	l.idler.Sleep(d)
	if interruptible {
		l.disarm()
		l.idler.Woke()
	}
}

// disarm ends what sleep's Arm began.
func (l *Loop) disarm() {
	for _, ri := range l.intr {
		ri.Disarm()
	}
}

// untilTimer is how long until the wheel has work, or -1 if it has no
// timer.
func (l *Loop) untilTimer() time.Duration {
	at, ok := l.wheel.NextExpiry()
	if !ok {
		return -1
	}
	return max(at.Sub(ktime.Now()), 0)
}

// txPending reports whether packets wait for room on a tx queue.
func (l *Loop) txPending() bool {
	for _, t := range l.tx {
		if t.n > 0 {
			return true
		}
	}
	return false
}

// Close releases what the loop sleeps in. Call it after Stop, once
// nothing posts to the loop any more.
func (l *Loop) Close() { l.idler.Close() }

// Go runs the loop on a goroutine of its own until Stop (give such a loop
// Config.Shared). Running reports true from the moment Go returns.
func (l *Loop) Go() {
	l.running.Store(true)
	go l.Run()
}

// Running reports whether the loop runs (Go or Run was called and Stop has
// not returned): whether work for it must be posted rather than done in
// place. Safe from any goroutine.
func (l *Loop) Running() bool { return l.running.Load() }

// RunOnLcore starts Run on the EAL thread of lcore id.
func (l *Loop) RunOnLcore(id uint) <-chan error {
	return dpdk.RunOnLcore(id, l.Run)
}

// Stop ends Run after its current turn and waits for it to return.
func (l *Loop) Stop() {
	l.stop.Store(true)
	l.idler.Wake()
	<-l.done
}

// TxBatch gathers one turn's packets for one port tx queue so that they go
// out in a single burst.
type TxBatch struct {
	port  *dpdk.Port
	queue uint16
	// hidden keeps the batch from the Tap (HideFromTap), in queue's
	// padding
	hidden bool
	pkts   []*mbuf.Buf // C memory: see mbuf.NewBurst
	n      int
	op     int // its burst in the loop's batch
	loop   *Loop
	// tapped is how many of the queued packets the loop's Tap has seen
	// (the first ones): those a burst did not take are not seen twice.
	tapped int
}

// Enqueue adds b to the batch, sending a burst first when the batch is
// full. It reports false, keeping nothing, when the port takes nothing: the
// caller still owns b.
func (t *TxBatch) Enqueue(b *mbuf.Buf) bool {
	if t.n == len(t.pkts) {
		t.Flush()
		if t.n == len(t.pkts) {
			return false
		}
	}
	t.pkts[t.n] = b
	t.n++
	return true
}

// Flush sends the batch in a burst of its own, ahead of the loop's I/O,
// and returns how many the port took. What it did not take stays, in
// order, for the next burst.
func (t *TxBatch) Flush() int {
	t.tap()
	sent := t.port.TxBurst(t.queue, t.pkts[:t.n])
	t.sent(sent)
	return sent
}

// sent counts a burst that sent the first n queued packets and keeps the
// rest, in order.
func (t *TxBatch) sent(n int) {
	t.loop.stats.TxBursts.Inc()
	t.loop.stats.TxPackets.Add(uint64(n))
	t.n = copy(t.pkts, t.pkts[n:t.n])
	t.tapped = max(t.tapped-n, 0)
}

// Pending is how many packets wait for the next flush.
func (t *TxBatch) Pending() int { return t.n }

// Drain frees whatever is still queued (at shutdown) and returns how many.
func (t *TxBatch) Drain() int {
	n := t.n
	mbuf.FreeBulk(t.pkts[:n])
	t.n, t.tapped = 0, 0
	return n
}
