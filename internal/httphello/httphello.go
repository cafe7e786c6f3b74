// Package httphello answers HTTP/1.1 requests (RFC 9112) with a fixed
// hello: the HTTP service of "dpstack run" (cmd/dpstack) and of its kernel
// baseline (perf/cmd/kserve), so that both answer with the same code and
// the same bytes. It parses request heads in place and appends answers to
// a caller's buffer: nothing is allocated per request.
//
// It answers GET and HEAD of any target with Body. A request with a body,
// any other method or a malformed head gets an error status, after which
// the connection closes. Connections persist as RFC 9112 §9.3 says: by
// default in HTTP/1.1, with "Connection: keep-alive" in HTTP/1.0, and not
// after "Connection: close".
package httphello

import (
	"bytes"
	"strconv"
	"time"
)

// Body is what the hello answers.
const Body = "hello from dpstack\n"

// MaxHead bounds a request's line and header fields; a longer head gets
// 431 (RFC 6585 §5).
const MaxHead = 8 << 10

// Scan looks for the first complete request head in b. It returns the
// head's length, its final blank line included, or 0 when b holds no
// complete head yet; tooLong says that the head exceeds MaxHead, or will:
// answer it with TooLong.
func Scan(b []byte) (n int, tooLong bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	switch {
	case end < 0:
		return 0, len(b) > MaxHead
	case end+4 > MaxHead:
		return 0, true
	}
	return end + 4, false
}

// Answer appends to out the answer to head, a complete request head as
// Scan found it, and reports whether the connection stays open after it.
// now is the answer's Date.
func Answer(out, head []byte, now time.Time) ([]byte, bool) {
	line, fields, _ := bytes.Cut(head[:len(head)-2], []byte("\r\n"))
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	_, version, ok2 := bytes.Cut(rest, []byte(" "))
	minor := -1
	if ok1 && ok2 && len(version) == 8 && bytes.HasPrefix(version, []byte("HTTP/1.")) && '0' <= version[7] && version[7] <= '9' {
		minor = int(version[7] - '0')
	}
	if minor < 0 {
		return fail(out, "400 Bad Request", now), false
	}
	keepAlive := minor >= 1
	for len(fields) > 0 {
		var field []byte
		field, fields, _ = bytes.Cut(fields, []byte("\r\n"))
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			// RFC 9112 §5.1: no whitespace in or after a field name.
			return fail(out, "400 Bad Request", now), false
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				opt = bytes.TrimSpace(opt)
				if bytes.EqualFold(opt, []byte("close")) {
					keepAlive = false
				} else if bytes.EqualFold(opt, []byte("keep-alive")) && minor == 0 {
					keepAlive = true
				}
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Content-Length")) && !bytes.Equal(value, []byte("0")):
			// A body the hello would have to read past: refuse it
			// rather than misread it as the next request.
			return fail(out, "413 Content Too Large", now), false
		}
	}
	get := bytes.Equal(method, []byte("GET"))
	if !get && !bytes.Equal(method, []byte("HEAD")) {
		return fail(out, "405 Method Not Allowed", now), false
	}
	out = status(out, "200 OK", now)
	switch {
	case !keepAlive:
		out = append(out, "Connection: close\r\n"...)
	case minor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(Body)), 10)
	out = append(out, "\r\n\r\n"...)
	if get {
		out = append(out, Body...)
	}
	return out, keepAlive
}

// TooLong appends the answer to a head that Scan found too long; the
// connection then closes.
func TooLong(out []byte, now time.Time) []byte {
	return fail(out, "431 Request Header Fields Too Large", now)
}

// status appends a status line and the Date (RFC 9110 §6.6.1).
func status(out []byte, status string, now time.Time) []byte {
	out = append(out, "HTTP/1.1 "...)
	out = append(out, status...)
	out = append(out, "\r\nDate: "...)
	out = now.UTC().AppendFormat(out, "Mon, 02 Jan 2006 15:04:05 GMT")
	return append(out, "\r\n"...)
}

// fail appends an error answer after which the connection closes.
func fail(out []byte, st string, now time.Time) []byte {
	out = status(out, st, now)
	return append(out, "Connection: close\r\nContent-Length: 0\r\n\r\n"...)
}
