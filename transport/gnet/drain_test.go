//go:build unix

package gnet

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// A dialed link that half-closes and then drains its echoes receives every
// frame the peer sent before its own end of stream, even when its reads
// were paused (full receive queue) when the socket was fully shut: gnet
// then reports a hang-up without reading, and the engine reads the rest
// from the kernel itself.
// r[verify link.rx.eof] r[verify wire.eof] r[verify link.tx.close]
func TestTxCloseThenDrain(t *testing.T) {
	for round := range 10 {
		ctx := testCtx(t)
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := Dial(ctx, "tcp", nl.Addr().String(), framelink.Options{MaxFrame: 64 << 10, HighWater: 256 << 10, LowWater: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		peer, err := nl.Accept()
		nl.Close()
		if err != nil {
			t.Fatal(err)
		}
		peer.SetDeadline(time.Now().Add(30 * time.Second)) // hang bound only
		go func() {                                        // echo every byte, then end the stream
			buf := make([]byte, 32<<10)
			for {
				n, err := peer.Read(buf)
				if n > 0 {
					if _, werr := peer.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					break
				}
			}
			peer.(*net.TCPConn).CloseWrite()
		}()
		const n = 100
		sent := make(chan error, 1)
		go func() {
			for i := range n {
				if err := l.Tx().Send(ctx, make([]byte, (i*7919)%(64<<10))); err != nil {
					sent <- err
					return
				}
			}
			sent <- l.Tx().Close()
		}()
		got := 0
		var end error
		for {
			f, err := l.Rx().Recv(ctx)
			if err != nil {
				end = err
				break
			}
			if want := (got * 7919) % (64 << 10); f.Len() != want {
				t.Fatalf("round %d: echo %d has %d bytes, want %d", round, got, f.Len(), want)
			}
			f.Release()
			got++
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if got != n || !errors.Is(end, io.EOF) {
			t.Fatalf("round %d: %d of %d echoes, then %v; want all, then io.EOF", round, got, n, end)
		}
		l.Close()
		peer.Close()
	}
}
