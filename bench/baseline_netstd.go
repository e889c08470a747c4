//go:build unix

package main

// BASELINE: a hand-written echo server on Go's net package, with no
// framework (internal/bareecho.Netstd: one goroutine per connection, a
// 4 KiB bufio.Reader and a 4 KiB bufio.Writer flushed when no more input
// is buffered). It is what framelink's netstd engine is measured against.

import "github.com/framelink/framelink/internal/bareecho"

func init() { register("netstd", kindBaseline, bareStart(bareecho.StartNetstd)) }
