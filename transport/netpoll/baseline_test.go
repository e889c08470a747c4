package netpoll

import (
	"context"
	"testing"

	"github.com/framelink/framelink/internal/bareecho"
)

// startBareEcho starts the same echo written by hand directly on netpoll,
// with no framework (bareecho.Netpoll, the bench harness's netpoll
// baseline), for the side-by-side benchmarks and the idle-memory
// comparison. It is shut down, and its serving goroutine waited for, at
// cleanup.
func startBareEcho(t testing.TB, network string) *bareecho.Netpoll {
	t.Helper()
	b, err := bareecho.StartNetpoll(network, listenAddr(t, network))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = b.Shutdown(ctx)
		<-b.Done()
	})
	return b
}
