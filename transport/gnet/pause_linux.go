//go:build linux && !poll_opt

package gnet

import (
	"reflect"

	gn "github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// canPause reports that read events can be switched off per connection.
const canPause = true

// loopPollFD returns the epoll descriptor of the event loop that owns gc,
// or -1 if it cannot be found.
//
// gnet v2.9.7 has no API to stop read events for one connection: its
// poller is internal (conn.loop.poller.fd). The default (non-poll_opt)
// Linux poller registers each socket with its descriptor as the epoll
// data, so an EPOLL_CTL_MOD that keeps that data and drops EPOLLIN is a
// faithful pause. The descriptor is found by name through reflection (read
// only, no unsafe); if gnet's layout ever changes, this returns -1 and the
// engine falls back to stopping decoding (see the package documentation).
func loopPollFD(gc gn.Conn) int {
	defer func() { _ = recover() }()
	v := reflect.ValueOf(gc)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return -1
	}
	loop := v.Elem().FieldByName("loop")
	if !loop.IsValid() || loop.Kind() != reflect.Pointer || loop.IsNil() {
		return -1
	}
	poller := loop.Elem().FieldByName("poller")
	if !poller.IsValid() || poller.Kind() != reflect.Pointer || poller.IsNil() {
		return -1
	}
	fd := poller.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1
	}
	return int(fd.Int())
}

// setReadEvents switches EPOLLIN on or off for c's socket, keeping
// EPOLLOUT while gnet still holds output for it (gnet polls for
// writability only while its outbound buffer is not empty). It runs on
// c's loop. It reports whether the change was made.
func setReadEvents(c *conn, on bool) bool {
	if c.epfd == 0 {
		c.epfd = loopPollFD(c.gc) + 1 // 0 means unknown, -1+1 = 0 again
		if c.epfd == 0 {
			c.epfd = -1
		}
	}
	if c.epfd < 0 {
		return false
	}
	var ev uint32
	if on {
		ev = unix.EPOLLIN | unix.EPOLLPRI
	}
	if c.gc.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT
	}
	fd := c.gc.Fd()
	err := unix.EpollCtl(c.epfd-1, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
	return err == nil
}
