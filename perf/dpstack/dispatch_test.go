package dpstack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDispatch(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkDispatch-2      	 3946672	       303.2 ns/op	   3297671 pkts/s	       303.2 ns/pkt	       0 B/op	       0 allocs/op
BenchmarkDispatchTCP     	 1000000	       410 ns/op	       410.5 ns/pkt
PASS
`)
	got, err := parseDispatch(out)
	require.NoError(t, err)
	assert.Equal(t, []DispatchResult{{"BenchmarkDispatch", 303.2}, {"BenchmarkDispatchTCP", 410.5}}, got)

	_, err = parseDispatch([]byte("PASS\n"))
	assert.Error(t, err)
}
