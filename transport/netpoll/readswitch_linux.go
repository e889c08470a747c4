//go:build linux

package netpoll

import (
	"encoding/binary"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"
)

// readSwitch turns netpoll's read events for one connection off and on,
// so that a pull link whose application stops calling Recv, or a served
// connection that pauses (its output over HighWater, or netpoll reading
// too far ahead of its handler), leaves the peer's data in the kernel,
// where the TCP window stops the peer (r[link.rx.recv], r[serve.reply],
// with r[link.tx.backpressure]'s memory bound).
//
// netpoll v0.7.2 has no API for this: its poller reads every readable
// socket. Its descriptors are registered level-triggered with
// EPOLLIN|EPOLLRDHUP|EPOLLERR and, as epoll data, a pointer to the
// connection's FDOperator (the descriptor number in race builds, where it
// keeps the operators in a map). off makes an EPOLL_CTL_MOD on netpoll's
// epoll descriptor with the same data and EPOLLERR only (EPOLLHUP is
// always reported): not EPOLLRDHUP either, as netpoll closes a connection
// on a hang-up event without reading what the kernel still holds for it.
// on asks netpoll itself (FDOperator.Control(PollRW2R), its own "wait for
// reads" state). The epoll descriptor and the operator are found by name
// through reflection, and only for the netpoll version whose layout and
// registration were read (netpollVerified); anything else, or any
// mismatch, and newReadSwitch returns nil: the link then holds what
// netpoll reads, up to its input limit (see rx).
//
// netpoll changes a descriptor's registration itself only around a Flush
// that has to wait for the socket (EPOLLOUT and EPOLLIN on, then reads on
// again); framelink's output never uses netpoll's Flush where a switch may
// be made (output.writeRest), so nothing but the switch changes it until
// the connection closes.
type readSwitch struct {
	epfd int
	fd   int
	data uint64
	op   *netpoll.FDOperator

	mu       sync.Mutex
	off      bool // reads are wanted off
	applied  bool // epoll has reads off
	never    bool // reads stay on from now on (see keepOn)
	gonePoll bool // the poller detached the descriptor: no more reads, ever
	gone     func() bool
}

// netpollVerified is the netpoll version readSwitch was written against.
const netpollVerified = "v0.7.2"

// netpollVersionOK reports whether the binary's netpoll is the verified
// version. Test binaries record no dependencies: there, go.mod's version
// (the verified one) is what was built, and the structural checks of
// newReadSwitch still apply.
var netpollVersionOK = sync.OnceValue(func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, m := range bi.Deps {
		if m.Path == "github.com/cloudwego/netpoll" {
			return m.Replace == nil && m.Version == netpollVerified
		}
	}
	return len(bi.Deps) == 0
})

// newReadSwitch returns the switch for c, or nil if it cannot be made.
// gone reports, under the caller's descriptor lock, whether netpoll has
// closed the descriptor; every epoll change is made with that lock held
// (see link.fdMu), so a descriptor number reused by another connection is
// never touched.
func newReadSwitch(c netpoll.Connection, gone func() bool) (s *readSwitch) {
	// The epoll data is split into unix.EpollEvent's two 32-bit halves
	// as a little-endian machine lays it out.
	if !netpollVersionOK() || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil
	}
	defer func() {
		if recover() != nil {
			s = nil
		}
	}()
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("operator")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*netpoll.FDOperator)(nil)) || f.IsNil() {
		return nil
	}
	op := (*netpoll.FDOperator)(f.UnsafePointer())
	poll := reflect.ValueOf(op).Elem().FieldByName("poll")
	if !poll.IsValid() || poll.Kind() != reflect.Interface || poll.IsNil() {
		return nil
	}
	p := poll.Elem()
	if p.Kind() != reflect.Pointer || p.Type().String() != "*netpoll.defaultPoll" {
		return nil
	}
	epfd := p.Elem().FieldByName("fd")
	if !epfd.IsValid() || epfd.Kind() != reflect.Int || epfd.Int() <= 0 || op.FD <= 0 {
		return nil
	}
	return &readSwitch{epfd: int(epfd.Int()), fd: op.FD, data: epollData(op), op: op, gone: gone}
}

// setOff turns reads off (true) or back on. The caller holds the
// connection's descriptor lock.
func (s *readSwitch) setOff(off bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.off = off && !s.never
	s.applyLocked()
}

// keepOn switches reads on for good; the caller holds the descriptor
// lock. Tx.Close calls it before it shuts the write side down: once both
// directions are shut, the peer's end of stream raises EPOLLHUP, which
// netpoll's poller handles by closing the connection, without reading
// what the kernel still holds for it unless read events are on.
func (s *readSwitch) keepOn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.never, s.off = true, false
	s.applyLocked()
}

// isOff reports whether epoll has reads off now.
func (s *readSwitch) isOff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gonePoll || s.applied
}

func (s *readSwitch) applyLocked() {
	if s.off == s.applied || s.gonePoll || s.gone() {
		return
	}
	var err error
	if s.off {
		ev := unix.EpollEvent{Events: unix.EPOLLERR, Fd: int32(uint32(s.data)), Pad: int32(uint32(s.data >> 32))}
		err = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, s.fd, &ev)
	} else {
		err = s.op.Control(netpoll.PollRW2R)
	}
	switch err {
	case nil:
		s.applied = s.off
	case unix.ENOENT:
		// netpoll's poller saw the hang-up and detached the descriptor
		// (it reads what the kernel held first); it reports it a moment
		// later (OnDisconnect).
		s.gonePoll = true
	}
}
