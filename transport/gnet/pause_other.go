//go:build unix && (!linux || poll_opt)

package gnet

// canPause is false: on this platform (or with gnet's poll_opt poller,
// which keeps a pointer in the epoll data) read events are not switched
// off; the engine stops decoding instead and closes a connection whose
// held input passes its bound with ErrOverflow.
const canPause = false

func setReadEvents(c *conn, on bool) bool { return false }
