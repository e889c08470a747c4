//go:build unix

package gnet

import (
	gn "github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/framelink/framelink/pool"
)

// serviceShutdown is service during Server.Shutdown (r[serve.shutdown]),
// on c's loop; the ticker runs it every millisecond while the server
// shuts down. Nothing is decoded any more: input is discarded unread, so
// the Handler gets no OnFrame once Shutdown began (frames still arriving
// are dropped). Output committed so far is written; once all of it
// reached the kernel, commits return ErrClosed and the write side is shut
// (shutdown SHUT_WR), so the peer reads every reply, then a clean end of
// stream. The connection is then kept open, its input read and dropped,
// until the peer closes it (gnet's OnClose), or (on Linux) the peer's
// kernel acknowledged every byte and the end of stream, or Shutdown's
// context ends and the engine stops. Closing it with unread input
// earlier would make the kernel send a reset and drop the replies still
// in flight; once they are acknowledged, a reset loses none (the peer
// reads them, then the end of stream).
// r[impl serve.shutdown]
func (c *conn) serviceShutdown() gn.Action {
	if c.partial != nil {
		pool.Put(c.partial)
		c.partial, c.have = nil, 0
	}
	if n := c.gc.InboundBuffered(); n > 0 {
		_, _ = c.gc.Discard(n)
	}
	c.flush()
	if c.dead {
		return gn.None
	}
	if c.readOff { // keep reading: unread input would mean a reset
		setReadEvents(c, true)
		c.readOff = false
	}
	c.deadline.Store(0) // no timeouts: Shutdown's context bounds this
	if !c.shutWR {
		c.mu.Lock()
		empty := c.pending == nil && !c.writing && c.gnetOut == 0
		if empty {
			c.wrShut = true
		}
		c.mu.Unlock()
		if !empty {
			return gn.None
		}
		c.shutWR = true
		if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
			return gn.Close
		}
	}
	if n, ok := unacked(c.fd); ok && n == 0 {
		return gn.Close
	}
	return gn.None
}
