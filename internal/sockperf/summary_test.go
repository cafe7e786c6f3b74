package sockperf

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pingPong is the tail of a sockperf 3.7 ping-pong's output, with its
// terminal colours.
const pingPong = "sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=19755; ReceivedMessages=19754\n" +
	"sockperf: \x1b[2;35m====> avg-latency=13.679 (std-dev=18.252)\x1b[0m\n" +
	"sockperf: ---> percentile 99.999 = 2090.758\n" +
	"sockperf: ---> percentile 99.900 =  120.582\n" +
	"sockperf: ---> percentile 99.000 =   47.887\n" +
	"sockperf: ---> percentile 50.000 =   11.671\n" +
	"sockperf: ---> <MIN> observation =    2.289\n"

func TestParse(t *testing.T) {
	s, err := Parse(pingPong)
	require.NoError(t, err)
	assert.Equal(t, Summary{Sent: 19755, Received: 19754, Avg: 13679 * time.Nanosecond,
		P50: 11671 * time.Nanosecond, P99: 47887 * time.Nanosecond, P999: 120582 * time.Nanosecond, HasLatency: true}, s)

	s, err = Parse("sockperf: Total of 1649361 messages sent in 1.001 sec\nsockperf: Summary: Message Rate is 1647544 [msg/sec]\n")
	require.NoError(t, err)
	assert.Equal(t, Summary{Sent: 1649361, Rate: 1647544, HasRate: true}, s)

	_, err = Parse("sockperf: ERROR: Failed to connect")
	assert.ErrorContains(t, err, "no summary")
}
