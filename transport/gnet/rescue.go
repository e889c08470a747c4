//go:build unix

package gnet

import (
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/framelink/framelink"
	"github.com/framelink/framelink/pool"
)

// After the peer's half-close. gnet closes a connection as soon as a read
// returns end of stream, but a pull link must still be able to send after
// its peer's Tx.Close (r[link.tx.close], r[link.split]). So when gnet
// reports the peer's clean end of stream on a pull link whose own write
// side is still open and whose output gnet holds none of, the link keeps
// a duplicate of the socket (taken in OnClose, before gnet closes its
// descriptor) and lives on as a write-only stream served by one goroutine
// on Go's own poller: Rx has returned io.EOF; Tx keeps working, with the
// same budget and batching; Tx.Close shuts the write side; Link.Close
// ends the goroutine. A link whose output still sits in gnet's buffer at
// that moment cannot be taken over (gnet flushes that buffer once,
// without waiting, and drops the rest) and is closed as before.

// writeOnly is the state of a link after the peer's half-close.
type writeOnly struct {
	nc   net.Conn
	sig  chan struct{} // capacity one: pending frames, Tx.Close or Close
	done chan struct{} // closed when the goroutine exited
}

// rescue takes the socket over for writing (on the loop, in onClose).
func (c *conn) rescue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeAsked || c.shutWR || c.closed {
		return false
	}
	c.waitDirectWriterLocked()
	fd, err := unix.Dup(c.fd)
	if err != nil {
		return false
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "framelink-gnet")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return false
	}
	w := &writeOnly{nc: nc, sig: make(chan struct{}, 1), done: make(chan struct{})}
	c.wo = w
	c.gnetBusy = true // never a direct write on gnet's descriptor again
	c.gc = nil
	go c.writeOnlyLoop(w)
	w.signal()
	return true
}

func (w *writeOnly) signal() {
	select {
	case w.sig <- struct{}{}:
	default:
	}
}

// writeOnlyLoop writes what the link commits after the peer's
// half-close, until Tx.Close (then shuts the write side) or Link.Close.
func (c *conn) writeOnlyLoop(w *writeOnly) {
	var bufs net.Buffers
	var fail error
	defer func() {
		w.nc.Close()
		c.mu.Lock()
		c.closed = true
		bp := c.pending
		c.pending, c.pendOff = nil, 0
		c.mu.Unlock()
		releaseBatch(bp)
		c.budget.Sub(int(c.budget.Queued()))
		sendErr := framelink.ErrClosed
		if fail != nil {
			sendErr = closedBy(fail)
		}
		c.budget.Close(sendErr)
		c.finishTx(sendErr)
		close(w.done)
		close(c.closedCh)
	}()
	for {
		c.mu.Lock()
		bp, off := c.pending, c.pendOff
		c.pending, c.pendOff, c.accOpen = nil, 0, false
		txClosing, closeAsked := c.txClosing, c.closeAsked
		c.mu.Unlock()
		if closeAsked {
			releaseBatch(bp)
			return
		}
		if bp != nil {
			bufs = append(bufs[:0], *bp...)
			bufs[0] = bufs[0][off:]
			total := 0
			for _, b := range bufs {
				total += len(b)
			}
			_, err := bufs.WriteTo(w.nc)
			clear(bufs[:cap(bufs)])
			releaseBatch(bp)
			c.budget.Sub(total)
			if err != nil {
				fail = err
				return
			}
			continue
		}
		if txClosing {
			var err error
			if cw, ok := w.nc.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			}
			c.finishTx(err)
			<-w.sig // until Link.Close
			for !c.closeAsked0() {
				<-w.sig
			}
			return
		}
		<-w.sig
	}
}

// wake tells the write-only goroutine that something changed; it also
// unblocks a write stuck on a peer that stopped reading when the link is
// closed.
func (w *writeOnly) wake(closing bool) {
	if closing {
		_ = w.nc.SetWriteDeadline(time.Now())
	}
	w.signal()
}

func releaseBatch(bp *[][]byte) {
	if bp == nil {
		return
	}
	for i, f := range *bp {
		pool.Put(f)
		(*bp)[i] = nil
	}
	*bp = (*bp)[:0]
	batchPool.Put(bp)
}
