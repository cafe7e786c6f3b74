// Package stacktest is the harness of the stack's tests: two hosts joined
// by a ring pair or a fault wire, on a manual clock or the real one, polled
// by the test itself (ARCHITECTURE.md §7), the frame builders they
// share, and a TCP segment builder (Segment) and checker (ParseSegment,
// CheckSegment and the Check constructors).
//
// A Pair checks at the end of its test what every test of the stack
// relies on: the link is mended and what is in flight arrives, then both
// hosts close, each checking that its pool is back to no mbuf in use, and
// the link goes. Nothing here starts a goroutine.
//
// It is for tests and benchmarks only; the one other importer is the perf
// harness (perf/dpstack), which takes its Link.
package stacktest
