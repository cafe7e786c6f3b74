package tcp

import (
	"runtime"
	"testing"
)

// sockSizeClass is the Go allocator's size class a Sock is allocated from
// (runtime/sizeclasses.go: 1536 bytes, the next being 1792). Every
// connection allocates two, the user's and the accepted child, so a field
// that pushes Sock past the class costs 512 bytes per connection and the
// garbage collector's time with them: BenchmarkConnect was 13 % slower
// with Sock at 1,544 bytes, and no slower than before the fields that
// grew it once they were regrouped into 1,528. Since Go 1.22 an object
// with pointers over 512 bytes carries an 8-byte malloc header in its
// slot, so a Sock of 1,536 bytes already takes the 1,792-byte class:
// what counts is the slot, measured below, not unsafe.Sizeof.
const sockSizeClass = 1536

// sockSink keeps the Socks TestSockSizeClass allocates on the heap.
var sockSink []*Sock

// TestSockSizeClass keeps Sock in its size class: a new field should take
// the place of padding (group the bools and the 32-bit fields), or come
// with a measurement that it is worth the next class. It measures the
// bytes the heap hands out per Sock (runtime.MemStats.TotalAlloc counts
// whole slots).
func TestSockSizeClass(t *testing.T) {
	const n = 1000
	sockSink = make([]*Sock, 0, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		sockSink = append(sockSink, new(Sock))
	}
	runtime.ReadMemStats(&after)
	sockSink = nil
	// Other goroutines may allocate meanwhile: a little over n slots
	// of the class is still the class, the next one is 256 bytes more
	// per Sock.
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > sockSizeClass+64 {
		t.Errorf("a tcp.Sock takes %d bytes of heap, past its %d-byte size class", per, sockSizeClass)
	}
}
