package netpoll

import (
	"fmt"
	"syscall"
)

// ErrOutputOverflow is the error a served connection is closed with (and
// that Slot.Commit and Conn.Send return) when a frame is committed while
// its output is above the high-water mark. netpoll cannot pause reading a connection: its poller
// reads every readable socket into the connection's input buffer, and an
// OnRequest that leaves input unread is called again at once. So where
// other engines stop reading until the output drains (r[serve.reply]),
// this engine closes the connection: a peer that stops reading cannot make
// the server hold more than the high-water mark plus one frame per sender
// (the frame that crossed the mark is still sent).
// OnClose receives it; errors.Is(err, ErrOutputOverflow) identifies it, and
// errors.Is(err, syscall.ENOBUFS) holds as well.
var ErrOutputOverflow = fmt.Errorf("framelink/netpoll: output above the high-water mark while netpoll cannot pause reads, connection closed: %w", syscall.ENOBUFS)
