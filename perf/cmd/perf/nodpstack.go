//go:build nodpstack

package main

func init() {
	extras.notes = append(extras.notes, "dpstack rows left out: built with -tags nodpstack (the dpstack adapters did not build)")
}
