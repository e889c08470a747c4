// Package servetest holds push-API (Serve) checks shared by the engines'
// tests, so each engine runs the same assertions.
package servetest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framelink/framelink"
)

// Serve is an engine's Serve function.
type Serve func(network, addr string, h framelink.Handler, o framelink.Options) (framelink.Server, error)

// busyEcho echoes every frame and counts the echoes committed (Send
// returned nil); it records any OnFrame that starts after Shutdown
// returned.
type busyEcho struct {
	committed atomic.Int64
	frames    atomic.Int64
	opened    atomic.Int64
	closed    atomic.Int64
	shutDone  atomic.Bool
	late      atomic.Int64
	enough    chan struct{}
	once      sync.Once
}

func (h *busyEcho) OnOpen(framelink.Conn)         { h.opened.Add(1) }
func (h *busyEcho) OnClose(framelink.Conn, error) { h.closed.Add(1) }
func (h *busyEcho) OnFrame(c framelink.Conn, p []byte) {
	if h.shutDone.Load() {
		h.late.Add(1)
	}
	if c.Send(p) == nil {
		h.committed.Add(1)
	}
	if h.frames.Add(1) == 200 {
		h.once.Do(func() { close(h.enough) })
	}
}

// ShutdownBusyPeer checks r[serve.shutdown] on an engine's Serve: Shutdown
// while the client is still sending.
// The server stops handling frames, writes every echo it committed, shuts
// its write side and drains input instead of closing with unread input
// (which would reset the connection and drop echoes in flight): the
// client reads every committed echo, in order, then a clean end of
// stream; no OnFrame runs after Shutdown returned.
func ShutdownBusyPeer(t *testing.T, serve Serve) {
	t.Helper()
	h := &busyEcho{enough: make(chan struct{})}
	srv, err := serve("tcp", "127.0.0.1:0", h, framelink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sends numbered frames until the connection fails or the reader is done
		defer wg.Done()
		buf := make([]byte, 4+512)
		binary.LittleEndian.PutUint32(buf, 512)
		for i := uint64(0); !stop.Load(); i++ {
			binary.LittleEndian.PutUint64(buf[4:], i)
			if _, err := nc.Write(buf); err != nil {
				return
			}
		}
	}()
	var got int64
	var readErr error
	var badSeq string
	readDone := make(chan struct{})
	go func() { // reads echoes until the end of stream (or an error)
		defer close(readDone)
		hdr := make([]byte, 4)
		p := make([]byte, 512)
		for {
			if _, err := io.ReadFull(nc, hdr); err != nil {
				readErr = err
				break
			}
			n := binary.LittleEndian.Uint32(hdr)
			if n != 512 {
				badSeq = "bad frame length"
				break
			}
			if _, err := io.ReadFull(nc, p); err != nil {
				readErr = err
				break
			}
			if s := binary.LittleEndian.Uint64(p); s != uint64(got) && badSeq == "" {
				badSeq = "echo out of order"
			}
			got++
		}
		stop.Store(true)
		nc.Close() // a client done reading closes: the server's drain ends
	}()
	<-h.enough
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard only
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	h.shutDone.Store(true)
	<-readDone
	wg.Wait()
	if badSeq != "" {
		t.Errorf("client: %s", badSeq)
	}
	if !errors.Is(readErr, io.EOF) {
		t.Errorf("client read ended with %v, want io.EOF after the last echo", readErr)
	}
	if c := h.committed.Load(); got != c {
		t.Errorf("client got %d echoes, the server committed %d: %d lost by Shutdown", got, c, c-got)
	}
	if o, c := h.opened.Load(), h.closed.Load(); o != 1 || c != 1 {
		t.Errorf("OnOpen %d, OnClose %d after Shutdown returned; want 1 and 1", o, c)
	}
	if n := h.late.Load(); n != 0 {
		t.Errorf("%d OnFrame calls after Shutdown returned", n)
	}
}
