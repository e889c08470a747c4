package framelink

import (
	"context"
	"net"
)

// Handler is the push API (r[serve.handler]). An engine calls it for each
// connection: OnOpen once, OnFrame for each frame in order, OnClose once.
// On event-loop engines (netpoll, gnet) the callbacks run on the loop, and
// no goroutine is parked per connection: a callback must not block.
type Handler interface {
	// OnOpen is called when a connection is established, before any
	// OnFrame for it.
	OnOpen(c Conn)
	// OnFrame is called once per received frame. payload is valid only
	// until OnFrame returns (it may point into the engine's input buffer);
	// copy what you keep.
	OnFrame(c Conn, payload []byte)
	// OnClose is called once when the connection is gone. err is nil for a
	// clean end of stream (or a local Close), else the cause: io.EOF is
	// never passed; io.ErrUnexpectedEOF, ErrFrameTooLarge, timeouts
	// (os.ErrDeadlineExceeded) and OS errors are.
	OnClose(c Conn, err error)
}

// Conn is a server-side connection handed to a Handler. Its methods are
// safe from any goroutine, including the callbacks themselves, and never
// block the event loop (r[serve.reply]).
type Conn interface {
	// Alloc returns a Slot for one frame of n bytes without waiting.
	// When the connection's output passes the high-water mark the engine
	// stops reading from it until the output drains below the low-water
	// mark, so a handler that only replies to frames cannot grow memory
	// without bound.
	Alloc(n int) (Slot, error)
	// Send copies p into one frame and commits it without waiting.
	Send(p []byte) error
	// Echo sends payload back on c as one frame, like Send, where payload
	// is the frame being delivered to the OnFrame call in progress on c
	// (or any part of it). Because payload's bytes are already in the
	// engine's input buffer, an engine may write them from there instead
	// of copying them (gnet does; the others copy): the handler must not
	// modify payload after passing it to Echo. Modifying it before is
	// fine. Any other slice, or a call outside OnFrame, is copied exactly
	// as by Send.
	Echo(payload []byte) error
	// EchoBatch sends every frame of b on c, in order, each as Echo
	// would: where b is the batch being delivered to the OnBatch call in
	// progress on c (or a run of its frames, made with NewBatch), an
	// engine may write its bytes from its input buffer instead of copying
	// them (gnet does), so the handler must not modify them afterwards.
	// Any other batch is copied, as by Send for each frame. A frame over
	// c's MaxFrame fails the call with ErrFrameTooLarge and nothing of b
	// is sent; an empty b sends nothing.
	EchoBatch(b Batch) error
	// Close closes the connection after the frames already committed are
	// written (best effort). It is idempotent.
	Close() error
	// LocalAddr and RemoteAddr return the endpoints.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Context and SetContext hold one user value per connection.
	Context() any
	SetContext(v any)
	// Stats returns the connection's counters.
	Stats() Stats
}

// HandlerFuncs adapts plain functions to a Handler; nil fields are no-ops.
type HandlerFuncs struct {
	Open  func(c Conn)
	Frame func(c Conn, payload []byte)
	Close func(c Conn, err error)
}

func (h HandlerFuncs) OnOpen(c Conn) {
	if h.Open != nil {
		h.Open(c)
	}
}

func (h HandlerFuncs) OnFrame(c Conn, p []byte) {
	if h.Frame != nil {
		h.Frame(c, p)
	}
}

func (h HandlerFuncs) OnClose(c Conn, err error) {
	if h.Close != nil {
		h.Close(c, err)
	}
}

// BatchHandler is a Handler that takes its frames a read at a time, as a
// hand-written event-loop server does. When the Handler given to an
// engine's Serve implements it, the engine calls OnBatch instead of
// OnFrame: every frame is delivered in exactly one OnBatch call, in order,
// and each call holds at least one frame. A batch holds the whole frames
// the engine holds contiguously (typically what one read brought in), at
// most as many bytes as the connection's output has room for under its
// high-water mark (but at least one frame), so a handler that answers a
// batch with one frame per frame, no larger, keeps its output within the
// mark plus one frame, as with OnFrame. A frame assembled in a buffer of
// its own (one larger than the engine's read buffer) comes alone.
//
// OnBatch runs where OnFrame would (on the event loop for netpoll and
// gnet) and must not block. b is valid only until OnBatch returns.
//
// Mind embedding: a type that embeds a BatchHandler (BatchEchoHandler,
// say) is one too, so an OnFrame of its own is never called.
type BatchHandler interface {
	Handler
	OnBatch(c Conn, b Batch)
}

// EchoHandler sends every frame back unchanged, one OnFrame and one
// Conn.Echo per frame. It is safe to embed for its no-op OnOpen and
// OnClose.
type EchoHandler struct{}

func (EchoHandler) OnOpen(Conn)                    {}
func (EchoHandler) OnFrame(c Conn, payload []byte) { _ = c.Echo(payload) }
func (EchoHandler) OnClose(Conn, error)            {}

// BatchEchoHandler sends every frame back unchanged a batch at a time: it
// is a BatchHandler whose OnBatch answers the whole batch with one
// Conn.EchoBatch, the work of a hand-written event-loop echo (examples/echo
// and the bench serve it). Its OnFrame, for engines that call it, is
// EchoHandler's.
// r[impl serve.handler]
type BatchEchoHandler struct{ EchoHandler }

func (BatchEchoHandler) OnBatch(c Conn, b Batch) { _ = c.EchoBatch(b) }

var _ BatchHandler = BatchEchoHandler{}

// Listener accepts links for the pull API (r[serve.pull]).
type Listener interface {
	// Accept waits for the next link. It returns ErrClosed after Close.
	Accept(ctx context.Context) (Link, error)
	// Close stops accepting; links already accepted stay open.
	Close() error
	Addr() net.Addr
}

// Server is a running push-API server (r[serve.shutdown]).
type Server interface {
	Addr() net.Addr
	// Shutdown stops accepting, lets committed output flush until ctx
	// ends, then closes every connection and waits for the engine's
	// goroutines. It is idempotent.
	Shutdown(ctx context.Context) error
}
