//go:build unix

// Command gnet-embed is an existing-style gnet application, a small
// "shout" server that upper-cases every message and counts them per
// connection, which adopted framelink's wire format with package
// gnetcodec in a few lines (r[transport.gnet.embed]). The app keeps its
// own gnet.EventHandler, its own gnet options and its own per-connection
// Context; the codec needs none of them.
//
//	go run ./examples/gnet-embed -addr 127.0.0.1:9000
//
// Lines marked "framelink:" are all the adoption took.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink/transport/gnet/gnetcodec"
)

// shout is the application's own handler.
type shout struct {
	gnet.BuiltinEventEngine
	codec  *gnetcodec.Codec // framelink: the codec
	eng    gnet.Engine
	booted chan struct{}
}

// session is the application's own per-connection state, in gnet's
// Context: the codec does not use it.
type session struct {
	messages int
}

func (s *shout) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *shout) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&session{})
	return nil, gnet.None
}

func (s *shout) OnTraffic(c gnet.Conn) gnet.Action {
	sess := c.Context().(*session)
	// framelink: every whole frame, however the bytes arrived.
	err := s.codec.Decode(c, func(msg []byte) error {
		sess.messages++
		if bytes.Equal(msg, []byte("count?")) {
			return s.codec.Write(c, fmt.Appendf(nil, "%d", sess.messages)) // framelink
		}
		up := bytes.ToUpper(msg)    // a copy: msg is only valid in this callback
		return s.codec.Write(c, up) // framelink
	})
	if err != nil { // framelink: oversize header or a failed write
		return gnet.Close
	}
	return gnet.None
}

// start runs the app on addr ("host:port") and returns once it listens,
// with the bound address and a stop function.
func start(addr string) (*shout, net.Addr, func(), error) {
	s := &shout{codec: gnetcodec.New(1 << 20), booted: make(chan struct{})} // framelink
	done := make(chan error, 1)
	go func() {
		// The app's own options.
		done <- gnet.Run(s, "tcp://"+addr, gnet.WithMulticore(true), gnet.WithTCPKeepAlive(0), gnet.WithReuseAddr(true))
	}()
	select {
	case <-s.booted:
	case err := <-done:
		return nil, nil, nil, err
	}
	fd, err := s.eng.Dup()
	if err != nil {
		return nil, nil, nil, err
	}
	sa, err := unix.Getsockname(fd)
	unix.Close(fd)
	if err != nil {
		return nil, nil, nil, err
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return nil, nil, nil, fmt.Errorf("unexpected address %T", sa)
	}
	bound := &net.TCPAddr{IP: net.IP(in4.Addr[:]), Port: in4.Port}
	stop := func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.eng.Stop(ctx) // this engine's own handle; returns at once
		<-done
	}
	return s, bound, stop, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()
	_, bound, stop, err := start(*addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", bound)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	stop()
}
