//go:build !windows

package netpoll

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/framelink/framelink"
	"github.com/framelink/framelink/codec"
	"github.com/framelink/framelink/pool"
)

// rx is the receiving half of a pull link.
//
// netpoll's poller reads the socket into the connection's input buffer
// whatever the application does: it has no API to stop reading one
// socket. So the link does not leave the input to pile up behind a Recv
// that may never come. Its OnRequest, which netpoll runs on a worker
// goroutine whenever input arrives, takes every whole frame out of the
// input buffer (checking the limit on the header, copying the payload into
// a pool buffer that the Frame owns, releasing the input at once) and
// queues it for Recv. The queue is bounded in bytes (r[link.rx.recv] with
// the memory bound of r[link.tx.backpressure] applied to the receive
// side):
//
//   - while less than HighWater bytes are queued (payload plus
//     frameCost per frame, so empty frames count too), OnRequest
//     decodes as fast as netpoll reads; a Recv never waits for a frame
//     that has arrived;
//   - from HighWater on, OnRequest stops decoding until Recv has taken
//     the queue under LowWater, and switches netpoll's reads of the socket
//     off meanwhile (readSwitch): the peer's bytes wait in the kernel and
//     the TCP window stops the peer, as on the other engines;
//   - reads stay off after that pause while netpoll's buffer still holds
//     more than the input limit of a served connection (inputLimit) not
//     yet decoded, until OnRequest has decoded it down to half the limit
//     (readAhead): what netpoll read ahead refills the queue many times
//     over, and switching reads on at every pause's end would let netpoll
//     add up to what the kernel held (megabytes) for every LowWater to
//     HighWater of frames Recv takes, without bound for a peer that never
//     reads what the application sends back;
//   - where reads cannot be switched off (not Linux, another netpoll
//     version, after Tx.Close), netpoll keeps reading and the link holds that input up
//     to recvInputLimit (at least 32 MiB); past it the application is
//     deemed not receiving: the connection is closed, and Recv returns the
//     frames queued, then ErrInputOverflow.
//
// Recv waits on the queue only, so a context can end a Recv at any time
// without losing a frame that is half read: OnRequest keeps assembling it.
// Close wakes a waiting Recv.
type rx struct {
	l *link

	// Shared between OnRequest (producer) and Recv (consumer).
	mu     sync.Mutex
	q      []framelink.Frame // frames from head on are queued
	head   int
	end    error         // set once after the last frame queued
	ready  chan struct{} // capacity 1: a frame or end was queued
	queued atomic.Int64  // bytes queued: payload plus frameCost per frame

	paused  atomic.Bool   // OnRequest waits for Recv to take the queue under LowWater
	drained chan struct{} // capacity 1: Recv took the queue under LowWater while paused

	// OnRequest only (netpoll runs one at a time per connection).
	rd      netpoll.Reader
	timer   *time.Timer // pause's clock
	eof     bool        // the peer has gone: decode the rest regardless of the bound
	stopped bool        // end was set: discard whatever input remains
	ahead   bool        // reads are off: netpoll read too far ahead (readAhead)
	aheadAt int         // the read-ahead limit: inputLimit

	// Recv only.
	err error // sticky (r[link.rx.eof], r[link.rx.error])

	done chan struct{} // closed by the close callback: OnRequest is over
}

func (r *rx) init(l *link) {
	r.l = l
	r.rd = l.conn.Reader()
	r.aheadAt = inputLimit(l.o)
	r.ready = make(chan struct{}, 1)
	r.drained = make(chan struct{}, 1)
	r.done = make(chan struct{})
}

// Recv implements framelink.Rx: it returns the next queued frame, or
// waits for one, for the end of the stream, for ctx or for Close. One
// goroutine at a time. r[impl link.rx.recv]
func (r *rx) Recv(ctx context.Context) (framelink.Frame, error) {
	for {
		if r.err != nil {
			return framelink.Frame{}, r.dead(r.err)
		}
		if r.l.closed.Load() {
			return framelink.Frame{}, r.dead(framelink.ErrClosed)
		}
		r.mu.Lock()
		if r.head < len(r.q) {
			f := r.q[r.head]
			r.q[r.head] = framelink.Frame{}
			r.head++
			if r.head == len(r.q) {
				// Drained: keep a small backing array, drop a burst's
				// (an idle link holds no receive memory beyond it).
				if cap(r.q) > 64 {
					r.q = nil
				}
				r.q, r.head = r.q[:0], 0
			}
			r.mu.Unlock()
			if q := r.queued.Add(-cost(f)); q <= int64(r.l.low) && r.paused.Load() {
				select {
				case r.drained <- struct{}{}:
				default:
				}
			}
			return f, nil
		}
		end := r.end
		r.mu.Unlock()
		if end != nil {
			return framelink.Frame{}, r.dead(end)
		}
		select {
		case <-r.ready:
		case <-ctx.Done():
			return framelink.Frame{}, ctx.Err()
		}
	}
}

// dead makes err sticky. r[impl link.rx.eof] r[impl link.rx.error] After a local Close every Recv returns ErrClosed.
func (r *rx) dead(err error) error {
	if r.err == nil {
		r.err = err
	}
	if r.l.closed.Load() {
		return framelink.ErrClosed
	}
	return r.err
}

// frameCost is what a queued frame counts for besides its payload: its
// queue entry and pool buffer header, so that a stream of empty frames is
// bounded too.
const frameCost = 64

func cost(f framelink.Frame) int64 { return int64(f.Len()) + frameCost }

// push queues f for Recv (OnRequest).
func (r *rx) push(f framelink.Frame) {
	r.queued.Add(cost(f))
	r.mu.Lock()
	if r.head > 0 && len(r.q) == cap(r.q) && r.head >= len(r.q)/2 {
		// Reuse the space Recv has taken rather than grow: a queue that
		// never empties keeps a bounded backing array.
		n := copy(r.q, r.q[r.head:])
		clear(r.q[n:])
		r.q, r.head = r.q[:n], 0
	}
	r.q = append(r.q, f)
	r.mu.Unlock()
	r.wake()
}

// finish records why no frame will follow those queued; the first reason
// stays. Any goroutine.
func (r *rx) finish(err error) {
	r.mu.Lock()
	if r.end == nil {
		r.end = err
	}
	r.mu.Unlock()
	r.wake()
}

func (r *rx) wake() {
	select {
	case r.ready <- struct{}{}:
	default:
	}
}

// drop releases the frames nobody will Recv (Close, after OnRequest ended).
func (r *rx) drop() {
	r.mu.Lock()
	for i := r.head; i < len(r.q); i++ {
		r.q[i].Release()
		r.q[i] = framelink.Frame{}
	}
	r.q, r.head = nil, 0
	r.mu.Unlock()
	r.queued.Store(0)
}

// onRequest is the link's netpoll OnRequest. It must consume the input or
// close the connection: netpoll calls it again at once while input is
// buffered. It returns when the input buffer is empty, blocking in the
// Reader while part of a frame is buffered (no read timeout on pull links:
// netpoll's poller, a Close or the peer's end wakes it).
// r[impl wire.max] r[impl wire.eof] r[impl wire.truncated]
func (r *rx) onRequest(context.Context, netpoll.Connection) error {
	r.decode()
	return nil
}

// decode moves every whole frame buffered to the queue (see onRequest).
// Called by OnRequest, and by the close callback (closed) for input that
// no OnRequest saw; netpoll never runs the two at once.
func (r *rx) decode() {
	rd := r.rd
	hw := int64(r.l.high)
	for {
		if r.stopped || r.l.closed.Load() {
			_ = rd.Skip(rd.Len())
			break
		}
		n := rd.Len()
		if n == 0 {
			break
		}
		if !r.eof && r.queued.Load() >= hw {
			r.pause()
			continue
		}
		r.readAhead(r.aheadWanted(n))
		if n < codec.HeaderSize {
			r.readAhead(false) // the rest has to be read
			_ = rd.Release()
		}
		hdr, err := rd.Peek(codec.HeaderSize)
		if err != nil {
			r.stop(r.readErr(err))
			continue
		}
		// The limit is checked on the header alone: nothing of an
		// oversize frame is awaited or copied.
		_, advance, need, err := codec.Split(hdr, r.l.max)
		if err != nil {
			r.l.counters.Oversize.Add(1)
			r.stop(err)
			r.l.abort()
			continue
		}
		total := advance + need // Split returns one of them
		if n < total && rd.Len() < total {
			r.readAhead(false)
			_ = rd.Release() // what was taken so far, before blocking
		}
		b, err := rd.Next(total)
		if err != nil {
			r.stop(r.readErr(err))
			continue
		}
		size := total - codec.HeaderSize
		buf := pool.Get(size)
		copy(buf, b[codec.HeaderSize:])
		r.l.counters.In(size)
		r.push(framelink.NewFrame(buf, poolRelease{}))
	}
	r.readAhead(false)
	_ = rd.Release()
}

// aheadWanted reports whether netpoll's reads should be off for
// read-ahead with n bytes of input held: past the limit they go off, and
// they stay off until OnRequest has decoded the input down to half of it
// (which is more than a whole frame: inputLimit is at least HighWater
// plus two largest frames). OnRequest only.
func (r *rx) aheadWanted(n int) bool {
	if n > r.aheadAt {
		return true
	}
	if n < r.aheadAt/2 {
		return false
	}
	return r.ahead
}

// readAhead switches netpoll's reads off (true) for read-ahead, or back
// on; a no-op without a read switch, or if they already are. OnRequest
// only (outside pause, which switches them itself).
func (r *rx) readAhead(off bool) {
	if r.l.rs == nil || r.ahead == off {
		return
	}
	r.ahead = off
	r.l.setReadsOff(off)
}

// stop ends decoding with err (OnRequest).
func (r *rx) stop(err error) {
	r.finish(err)
	r.stopped = true
}

func (r *rx) readErr(err error) error {
	if r.l.closed.Load() {
		return framelink.ErrClosed
	}
	if errors.Is(err, netpoll.ErrConnClosed) {
		// Not closed here (Close sets closed first; an abort stops
		// decoding first): newLink closed netpoll's connection after
		// the peer ended the stream (see there). The Reader reports
		// that close; the peer's end it stands for is io.EOF.
		err = netpoll.ErrEOF
	}
	return readErr(err, r.rd.Len() > 0)
}

// pause waits, on OnRequest's goroutine, until Recv has taken the queue
// under LowWater (Recv wakes it), or the connection ended (the peer went:
// decoding resumes regardless, as the input can no longer grow; or the
// link was closed). Meanwhile netpoll's reads of the socket are switched
// off where that is possible (readSwitch), so the peer's bytes wait in the
// kernel and the TCP window stops the peer; they stay off after it while
// the input held is over the read-ahead limit (readAhead). Where that is
// not possible (or no longer: Tx.Close switches them on for good), netpoll
// keeps reading into its buffer, and once the input held reaches
// recvInputLimit the application is deemed not receiving: the link is
// closed with ErrInputOverflow after the frames queued. Nothing tells
// OnRequest that netpoll read more, so the input is looked at on a timer
// that starts short and backs off (pausePollMin to pausePollMax). netpoll's own read timeout cannot be the
// clock: on a connection made from a descriptor it has no remote address,
// and timing out dereferences it.
func (r *rx) pause() {
	rd := r.rd
	_ = rd.Release()
	limit := recvInputLimit(r.l.o)
	low := int64(r.l.low)
	d := pausePollMin
	if r.l.rs != nil {
		r.l.setReadsOff(true)
		// Back on only if the input held is not too far ahead of
		// decoding (readAhead): netpoll holds what it read before reads
		// went off, and Recv took only HighWater-LowWater of it.
		defer func() {
			r.ahead = r.aheadWanted(rd.Len())
			r.l.setReadsOff(r.ahead)
		}()
	}
	r.paused.Store(true)
	defer r.paused.Store(false)
	for r.queued.Load() > low {
		if r.ended(false) {
			return
		}
		if r.l.rs != nil && r.l.rs.isOff() {
			// The kernel holds the input: what netpoll holds cannot grow
			// (until Tx.Close switches reads on; the clock looks again).
			d = pausePollMax
		} else if rd.Len() >= limit {
			r.stop(ErrInputOverflow)
			r.l.abort()
			return
		}
		if r.timer == nil {
			r.timer = time.NewTimer(d)
		} else {
			r.timer.Reset(d)
		}
		select {
		case <-r.drained:
		case <-r.timer.C:
			d = min(2*d, pausePollMax)
			continue
		case <-r.l.hup:
			r.timer.Stop()
			r.ended(true)
			return
		}
		r.timer.Stop()
	}
}

// ended reports whether netpoll's poller saw the connection end (hup
// closed; wait: it is known to be), after which the input can no longer
// grow: it has read what the kernel held. If the peer ended it (not
// Close), the rest is decoded regardless of the queue's bound.
func (r *rx) ended(wait bool) bool {
	if !wait {
		select {
		case <-r.l.hup:
		default:
			return false
		}
	}
	if !r.l.closed.Load() {
		r.eof = true
	}
	return true
}

// recvInputLimit is the most input a pull link holds while Recv's queue is
// full and netpoll's reads are not switched off (no readSwitch, or after
// Tx.Close, see readSwitch.keepOn): the input limit of a paused served
// connection, and at least 32 MiB, the largest receive buffer Linux grows
// a socket to by default, which is what a link that can stop reading lets
// the kernel hold for it.
func recvInputLimit(o framelink.Options) int {
	return max(inputLimit(o), 32<<20)
}

// closed runs in the connection's close callback, after the last
// OnRequest returned: a stream that ended between frames ends with io.EOF
// (after a partial frame OnRequest has already recorded
// io.ErrUnexpectedEOF).
//
// The input may still hold frames no OnRequest has seen: netpoll v0.7.2's
// worker, finding the input empty, releases the connection's processing
// lock and only then looks again for input read meanwhile; if the poller
// reads the peer's last bytes and then its end of stream in that window,
// the poller's hang-up handling takes the lock first and runs the close
// callback, and the worker, finding the lock taken, leaves. So the rest
// of the input is decoded here, regardless of the queue's bound (the
// input can no longer grow, as after the peer's end in pause), before
// io.EOF: every frame the peer sent before its clean end of stream is
// received (r[link.rx.eof]). The Reader does not block here: netpoll
// marked the connection closing first, so a partial frame fails at once
// (io.ErrUnexpectedEOF). After Close or an abort (stopped) the input is
// dropped as before.
// r[impl link.rx.eof]
func (r *rx) closed() {
	if !r.stopped && !r.l.closed.Load() && r.rd.Len() > 0 {
		r.eof = true
		r.decode()
	}
	if r.l.closed.Load() {
		r.finish(framelink.ErrClosed)
	} else {
		r.finish(io.EOF)
	}
	close(r.done)
}
