package reliability

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/framelink/framelink"
)

// TestFaultClientKilled: clients that vanish mid-stream. Link.Close
// without Tx.Close (abrupt, in-process), and a client process killed with
// SIGKILL while sending. The server closes each connection once, never
// delivers a partial or corrupted frame, and keeps nothing.
//
// r[verify link.close] r[verify serve.handler] r[verify wire.truncated]
func TestFaultClientKilled(t *testing.T) {
	o := framelink.Options{MaxFrame: 64 << 10}
	t.Run("abrupt-close", func(t *testing.T) {
		forServers(t, "client closed abruptly", nil, func(t *testing.T, e *engine, k serverKind) {
			srv := startEcho(t, e, k, serverOpts(e, k, o), 4, verifying)
			ce := clientWithout(e, bugCloseRecvRace)
			ctx := testCtx(t)
			const conns = 4
			var clients []*taggedClient
			for i := range conns {
				l, err := ce.dial(ctx, "tcp", srv.addr, o)
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, startTagged(ctx, l, uint32(i+1)<<8|1, 64<<10, 0))
			}
			waitFor(t, "server reading every client", func() bool {
				for _, c := range clients {
					if sc := srv.byTag(c.stream); sc == nil || sc.framesIn.Load() < 20 {
						return false
					}
				}
				return true
			})
			for _, c := range clients {
				c.stop.Store(true)
				if err := c.l.Close(); err != nil {
					t.Errorf("Link.Close: %v", err)
				}
				c.done.Wait()
			}
			srv.waitClosed(t, conns)
			for _, err := range srv.errs() {
				t.Error(err)
			}
			for _, sc := range srv.snapshot() {
				if sc.closeErr != nil && !inTaxonomy(sc.closeErr) {
					t.Errorf("conn %d ended with %v: not in the error taxonomy", sc.id, sc.closeErr)
				}
			}
		})
	})
	t.Run("sigkill", func(t *testing.T) {
		if os.Getenv(helperEnv) != "" {
			t.Skip("in the helper process")
		}
		forServers(t, "client process killed (SIGKILL)", nil, func(t *testing.T, e *engine, k serverKind) {
			srv := startEcho(t, e, k, serverOpts(e, k, o), 5, verifying)
			ce := clientFor(e)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClient$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"=1", "FRAMELINK_HELPER_ENGINE="+ce.name, "FRAMELINK_HELPER_ADDR="+srv.addr)
			if err := cmd.Start(); err != nil {
				t.Fatalf("starting the client process: %v", err)
			}
			killed := false
			t.Cleanup(func() {
				if !killed {
					cmd.Process.Kill()
				}
				cmd.Wait()
			})
			waitFor(t, "the client process sending", func() bool {
				cs := srv.snapshot()
				return len(cs) > 0 && cs[0].framesIn.Load() >= 50
			})
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			srv.waitClosed(t, 1)
			for _, err := range srv.errs() {
				t.Error(err)
			}
			sc := srv.snapshot()[0]
			t.Logf("%s %s: client killed after %d frames; connection ended with %v", e.name, k, sc.framesIn.Load(), sc.closeErr)
			if sc.closeErr != nil && !inTaxonomy(sc.closeErr) {
				t.Errorf("ended with %v: not in the error taxonomy", sc.closeErr)
			}
		})
	})
}

const helperEnv = "FRAMELINK_HELPER"

// TestHelperClient is the client process of TestFaultClientKilled: it
// sends tagged frames until it is killed. It does nothing in a normal run.
func TestHelperClient(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestFaultClientKilled")
	}
	e := engines[os.Getenv("FRAMELINK_HELPER_ENGINE")]
	if e == nil || e.dial == nil {
		t.Fatalf("no client engine %q", os.Getenv("FRAMELINK_HELPER_ENGINE"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*hangLimit)
	defer cancel()
	l, err := e.dial(ctx, "tcp", os.Getenv("FRAMELINK_HELPER_ADDR"), framelink.Options{MaxFrame: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c := startTagged(ctx, l, 0x7701, 64<<10, 0)
	c.done.Wait() // until killed (or the hang limit)
}
