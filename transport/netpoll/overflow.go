package netpoll

import (
	"fmt"
	"syscall"
)

// ErrOutputOverflow is the error a served connection is closed with when
// its peer does not read its replies fast enough for the memory this
// engine may hold for it (r[serve.reply]). While a connection's output is
// over the high-water mark, OnRequest stops delivering frames and waits
// (on its worker goroutine) for the output to drain under the low-water
// mark, with netpoll's reads of the socket switched off where that is
// possible (see the package documentation). The connection is closed with
// this error when
//
//   - reads could not be switched off (another OS or netpoll version) and
//     the input held while paused reaches 8×HighWater, or HighWater +
//     2×(MaxFrame+4) bytes if that is more: the peer sent that much while
//     not reading; or
//   - a frame is committed while more than 2×HighWater + MaxFrame+4
//     bytes are queued (a handler that replies in bulk, or sends from
//     other goroutines, to a peer that does not read); Slot.Commit and
//     Conn.Send return it.
//
// OnClose receives it; errors.Is(err, ErrOutputOverflow) identifies it,
// and errors.Is(err, syscall.ENOBUFS) holds as well.
var ErrOutputOverflow = fmt.Errorf("framelink/netpoll: peer does not read: output or input held while paused over its limit, connection closed: %w", syscall.ENOBUFS)

// ErrInputOverflow is the error Recv returns, after the frames it had
// queued, when a pull link was closed because its application stopped
// receiving while netpoll's reads of the socket could not be switched off
// (see the package documentation, "Pull links"): the link queues HighWater
// bytes of frames for Recv, then holds the input netpoll keeps reading up
// to the larger of 32 MiB and the input limit of a paused served
// connection, and closes past it. errors.Is(err, syscall.ENOBUFS) holds as
// well.
var ErrInputOverflow = fmt.Errorf("framelink/netpoll: link not receiving: input held over its limit, connection closed: %w", syscall.ENOBUFS)
