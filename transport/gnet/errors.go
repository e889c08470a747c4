//go:build unix

package gnet

import (
	"fmt"
	"log"
	"os"
	"syscall"
)

// ErrOverflow closes a connection whose input had to be held while reading
// was paused and grew past its bound (HighWater plus two gnet read
// buffers). gnet always reads a readable socket into its own inbound
// buffer, so where the engine cannot switch read events off for one
// connection (see the package documentation) this is how memory stays
// bounded. It wraps syscall.ENOBUFS, so errors.Is(err, syscall.ENOBUFS)
// holds as well.
var ErrOverflow = fmt.Errorf("framelink/gnet: input held while paused exceeds its bound: %w", syscall.ENOBUFS)

// timeoutError builds the error of an expired frame or idle timeout
// (r[serve.timeouts]); errors.Is(err, os.ErrDeadlineExceeded) holds.
func timeoutError(kind string, d fmt.Stringer) error {
	return fmt.Errorf("framelink/gnet: %s timeout (%v): %w", kind, d, os.ErrDeadlineExceeded)
}

// quietLogger is the logger given to gnet: debug and info lines are
// dropped, warnings and errors go to the standard library's log output.
//
// gnet keeps one process-wide default logger that every gnet.Run and
// gnet.NewClient replaces with its Options.Logger; framelink passes this
// one every time, so the effect is the same whichever engine starts last.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any)     {}
func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Warnf(f string, a ...any)  { log.Printf("gnet: warning: "+f, a...) }
func (quietLogger) Errorf(f string, a ...any) { log.Printf("gnet: error: "+f, a...) }
func (quietLogger) Fatalf(f string, a ...any) { log.Fatalf("gnet: fatal: "+f, a...) }
