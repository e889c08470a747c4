// Command echo serves the framelink echo: every frame ([u32 LE length]
// [payload]) is sent back unchanged (r[tools.echo]).
//
//	go run ./examples/echo -engine netstd -addr 127.0.0.1:9000 -max-frame 16777216
//
// When ready it prints one line containing "listening on ADDR" (ADDR is the
// real address, so -addr 127.0.0.1:0 works). SIGINT or SIGTERM stops it
// cleanly: it stops accepting, flushes replies for up to five seconds,
// closes every connection and exits 0.
//
// Engines register themselves from engine_*.go files; an engine that is
// not compiled in gives a clear error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/framelink/framelink"
)

// r[impl tools.echo]
func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engine := fs.String("engine", "netstd", "I/O engine: "+engineNames())
	addr := fs.String("addr", "127.0.0.1:9000", "TCP address to listen on (HOST:PORT; port 0 picks one)")
	maxFrame := fs.Uint64("max-frame", framelink.DefaultMaxFrame, "largest frame accepted, in bytes (1 to 4294967295)")
	multicore := fs.Bool("multicore", true, "one event loop per CPU (event-loop engines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *maxFrame < 1 || *maxFrame > 1<<32-1 {
		return fmt.Errorf("-max-frame %d out of range 1..4294967295", *maxFrame)
	}
	start, err := lookupEngine(*engine)
	if err != nil {
		return err
	}
	o := framelink.Options{MaxFrame: uint32(*maxFrame), Multicore: *multicore}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s, err := start(*addr, o)
	if err != nil {
		return fmt.Errorf("%s: %w", *engine, err)
	}
	fmt.Fprintf(stdout, "echo (%s): listening on %s\n", *engine, s.Addr())

	<-ctx.Done()
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "echo: stopped")
	return nil
}
