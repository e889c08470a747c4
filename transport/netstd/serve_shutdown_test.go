package netstd

import (
	"testing"

	"github.com/framelink/framelink/internal/servetest"
)

// TestServeShutdownBusyPeer: Shutdown while the client is still sending;
// every committed echo arrives, then a clean end of stream.
//
// r[verify serve.shutdown]
func TestServeShutdownBusyPeer(t *testing.T) { servetest.ShutdownBusyPeer(t, Serve) }
