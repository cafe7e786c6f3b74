package httphello

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var now = time.Date(2026, 12, 5, 16, 0, 0, 0, time.FixedZone("CET", 3600))

const date = "Date: Sat, 05 Dec 2026 15:00:00 GMT\r\n"

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int
		tooLong bool
	}{
		{"", 0, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0, false},
		{"GET / HTTP/1.1\r\n\r\n", 18, false},
		{"GET / HTTP/1.1\r\n\r\nGET /b", 18, false},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHead), 0, true},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", MaxHead) + "\r\n\r\n", 0, true},
		{strings.Repeat("a", MaxHead-4) + "\r\n\r\n", MaxHead, false},
	} {
		n, tooLong := Scan([]byte(tc.in))
		assert.Equal(t, tc.n, n, "%.40q", tc.in)
		assert.Equal(t, tc.tooLong, tooLong, "%.40q", tc.in)
	}
}

func TestAnswer(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\n" + date
	hello := "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n"
	failed := func(status string) string {
		return "HTTP/1.1 " + status + "\r\n" + date + "Connection: close\r\nContent-Length: 0\r\n\r\n"
	}
	for _, tc := range []struct {
		name, head, want string
		keepAlive        bool
	}{
		{"GET 1.1", "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ok + hello + Body, true},
		{"HEAD", "HEAD / HTTP/1.1\r\n\r\n", ok + hello, true},
		{"1.1 close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", ok + "Connection: close\r\n" + hello + Body, false},
		{"1.1 close among options", "GET / HTTP/1.1\r\nconnection: Upgrade, Close\r\n\r\n", ok + "Connection: close\r\n" + hello + Body, false},
		{"1.0", "GET / HTTP/1.0\r\n\r\n", ok + "Connection: close\r\n" + hello + Body, false},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok + "Connection: keep-alive\r\n" + hello + Body, true},
		{"empty body", "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ok + hello + Body, true},
		{"a body", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", failed("413 Content Too Large"), false},
		{"chunked", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", failed("413 Content Too Large"), false},
		{"other method", "PUT / HTTP/1.1\r\n\r\n", failed("405 Method Not Allowed"), false},
		{"no version", "GET /\r\n\r\n", failed("400 Bad Request"), false},
		{"HTTP/2", "GET / HTTP/2.0\r\n\r\n", failed("400 Bad Request"), false},
		{"bad minor", "GET / HTTP/1.x\r\n\r\n", failed("400 Bad Request"), false},
		{"field without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", failed("400 Bad Request"), false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", failed("400 Bad Request"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, keepAlive := Answer([]byte("kept:"), []byte(tc.head), now)
			assert.Equal(t, "kept:"+tc.want, string(out))
			assert.Equal(t, tc.keepAlive, keepAlive)
		})
	}
	assert.Equal(t, failed("431 Request Header Fields Too Large"), string(TooLong(nil, now)))
}

func TestAnswerNoAllocs(t *testing.T) {
	head := []byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
	out := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		n, _ := Scan(head)
		out, _ = Answer(out[:0], head[:n], now)
	})
	assert.Zero(t, allocs)
}

func BenchmarkAnswer(b *testing.B) {
	head := []byte("GET / HTTP/1.1\r\nHost: 198.18.0.2:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n")
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		n, _ := Scan(head)
		out, _ = Answer(out[:0], head[:n], now)
	}
}
