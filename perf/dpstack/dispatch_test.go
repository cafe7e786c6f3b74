package dpstack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDispatch(t *testing.T) {
	out := []byte(`goos: linux
pkg: github.com/dpstack/dpstack/stack
BenchmarkDispatch-2      	 3946672	       303.2 ns/op	   3297671 pkts/s	       303.2 ns/pkt	       0 B/op	       0 allocs/op
PASS
pkg: github.com/dpstack/dpstack/stack/tcp
BenchmarkDispatchTCP     	 1000000	       410 ns/op	       410.5 ns/pkt
PASS
`)
	got, err := parseDispatch(out)
	require.NoError(t, err)
	assert.Equal(t, []DispatchResult{
		{"BenchmarkDispatch", "github.com/dpstack/dpstack/stack", 303.2},
		{"BenchmarkDispatchTCP", "github.com/dpstack/dpstack/stack/tcp", 410.5},
	}, got)

	_, err = parseDispatch([]byte("PASS\n"))
	assert.Error(t, err)
}
