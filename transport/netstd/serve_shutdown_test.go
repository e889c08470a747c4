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

// Conn.Echo mixed with Send, slots and partial echoes, over split and
// coalesced reads: the same replies, in order, on every engine.
// r[verify serve.reply] r[verify serve.handler]
func TestServeEchoMixed(t *testing.T) { servetest.EchoMixed(t, Serve) }

// The BatchHandler contract: every frame in exactly one OnBatch, in
// order, within the output's room; replies by EchoBatch (runs of the
// batch and batches of its own), Echo, Send and slots in commit order.
// r[verify serve.handler] r[verify serve.reply]
func TestServeBatchMixed(t *testing.T) { servetest.BatchMixed(t, Serve) }
