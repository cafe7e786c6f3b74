package tcp

import (
	"testing"
	"unsafe"
)

// sockSizeClass is the Go allocator's size class a Sock is allocated from
// (runtime/sizeclasses.go: 1536 bytes, the next being 1792). Every
// connection allocates two, the user's and the accepted child, so a field
// that pushes Sock past the class costs 512 bytes per connection and the
// garbage collector's time with them: BenchmarkConnect was 13 % slower
// with Sock at 1,544 bytes, and no slower than before the fields that
// grew it once they were regrouped into 1,528.
const sockSizeClass = 1536

// TestSockSizeClass keeps Sock in its size class: a new field should take
// the place of padding (group the bools and the 32-bit fields), or come
// with a measurement that it is worth the next class.
func TestSockSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(Sock{}); n > sockSizeClass {
		t.Errorf("tcp.Sock is %d bytes, past its %d-byte size class", n, sockSizeClass)
	}
}
