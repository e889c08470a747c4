//go:build !unix

package netstd

import "os"

// pollableFile returns f: only Unix switches stdio pipes to the poller.
func pollableFile(f *os.File) *os.File { return f }
