//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// serveArg is the hidden first argument that turns the bench binary into
// the server under test: `bench -serve engine/kind`. The parent re-execs
// itself this way so the server's CPU time and memory are measured apart
// from the load generator.
const serveArg = "-serve"

// serverMain runs the server under test and its control protocol, which
// is line-based on stdin/stdout (no signals):
//
//	child → parent, once:  "addr HOST:PORT"  or  "error MESSAGE"
//	parent → child:        "stats"     → "stats {procStats JSON}"
//	                       "stats gc"  → the same after GC + FreeOSMemory
//	                       "quit" or end of stdin → shut down and exit
//
// r[impl tools.bench]
func serverMain(name string) int {
	// The control replies get their own descriptor; fd 1 is pointed at
	// stderr so engines that log to stdout (gnet does) cannot corrupt the
	// protocol.
	ctl := os.Stdout
	if fd, err := unix.Dup(1); err == nil {
		ctl = os.NewFile(uintptr(fd), "control")
		unix.Dup2(2, 1)
	}
	out := bufio.NewWriter(ctl)
	fail := func(err error) int {
		fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		out.Flush()
		return 1
	}
	if _, _, err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
	}
	engine, kind, err := parseServerName(name)
	if err != nil {
		return fail(err)
	}
	start, ok := lookupServer(engine, kind)
	if !ok {
		return fail(fmt.Errorf("server %s is not compiled in (have: %s)", name, registeredList()))
	}
	addr := os.Getenv("FRAMELINK_BENCH_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	srv, err := start(addr)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "addr %s\n", srv.Addr())
	out.Flush()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := strings.TrimSpace(in.Text())
		switch cmd {
		case "stats", "stats gc":
			b, _ := json.Marshal(readProcStats(cmd == "stats gc"))
			fmt.Fprintf(out, "stats %s\n", b)
		case "quit":
			goto quit
		default:
			fmt.Fprintf(out, "error unknown command %q\n", cmd)
		}
		out.Flush()
	}
quit:
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench server: shutdown:", err)
	}
	return 0
}
