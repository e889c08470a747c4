//go:build unix

package gnet

import (
	"testing"

	"go.uber.org/goleak"
)

// Goroutines alive when the tests start (gnet's dependencies start some
// at init) are ignored, and so are netpoll's process-wide pollers, which
// the interop tests start; every engine, loop and ticker this package
// starts must be gone by the end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/bytedance/gopkg/util/gopool.(*worker).run.func1"),
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).onhups.func1"),
	)
}
