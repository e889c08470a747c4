//go:build unix

package main

// BASELINE: a hand-written echo server on panjf2000/gnet/v2, with no
// framework. It is what framelink's gnet engine is measured against.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/framelink/framelink"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

func init() { register("gnet", kindBaseline, startBaselineGnet) }

// baselineGnet runs gnet with one event loop per CPU (WithMulticore) and
// otherwise gnet's defaults. OnTraffic Peeks everything buffered once,
// walks the complete frames, writes them back with one Write (the echoes
// of consecutive frames are the same contiguous bytes, so one syscall for
// the batch and no per-call scratch) and Discards them; a partial frame
// stays in gnet's inbound buffer until more arrives.
type baselineGnet struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	addr   net.Addr
	booted chan struct{}
	done   chan error
}

func startBaselineGnet(addr string) (framelink.Server, error) {
	s := &baselineGnet{booted: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		s.done <- gnet.Run(s, "tcp://"+addr, gnet.WithMulticore(true))
	}()
	select {
	case <-s.booted:
	case err := <-s.done:
		return nil, fmt.Errorf("gnet: %w", err)
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("gnet: engine did not boot in 10s")
	}
	a, err := gnetListenAddr(s.eng)
	if err != nil {
		return nil, err
	}
	s.addr = a
	return s, nil
}

// gnetListenAddr finds the bound address (for port 0) from a dup of the
// listener's descriptor; gnet.Engine has no Addr method.
func gnetListenAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("gnet: unexpected listener address %T", sa)
}

func (s *baselineGnet) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *baselineGnet) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil {
		return gnet.Close
	}
	done := 0
	for len(buf)-done >= 4 {
		n := int(binary.LittleEndian.Uint32(buf[done:]))
		if n > framelink.DefaultMaxFrame {
			return gnet.Close
		}
		if len(buf)-done < 4+n {
			break
		}
		done += 4 + n
	}
	if done == 0 {
		return gnet.None
	}
	if _, err := c.Write(buf[:done]); err != nil {
		return gnet.Close
	}
	c.Discard(done)
	return gnet.None
}

func (s *baselineGnet) Addr() net.Addr { return s.addr }

func (s *baselineGnet) Shutdown(ctx context.Context) error {
	return s.eng.Stop(ctx)
}
