//go:build unix

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
)

// procStats is what a server process reports about itself on request.
// Memory figures are bytes, CPU figures seconds.
type procStats struct {
	UserSec    float64 `json:"user_s"`
	SysSec     float64 `json:"sys_s"`
	RSS        int64   `json:"rss"`     // VmRSS now
	PeakRSS    int64   `json:"hwm"`     // VmHWM: peak RSS of the process so far
	Mallocs    uint64  `json:"mallocs"` // runtime.MemStats.Mallocs (cumulative)
	HeapInuse  uint64  `json:"heap_inuse"`
	StackInuse uint64  `json:"stack_inuse"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
	NoFileSoft uint64  `json:"nofile_soft"`
	NoFileHard uint64  `json:"nofile_hard"`
}

// CPUSec is user plus system CPU time.
func (s procStats) CPUSec() float64 { return s.UserSec + s.SysSec }

// readProcStats samples this process. With gc it first runs a garbage
// collection and returns freed memory to the OS, so RSS reflects live
// memory (used for the idle-connection measurement, never mid-load).
func readProcStats(gc bool) procStats {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var s procStats
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.UserSec = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		s.SysSec = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
	}
	s.RSS, s.PeakRSS = readVmRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.Mallocs = ms.Mallocs
	s.HeapInuse = ms.HeapInuse
	s.StackInuse = ms.StackInuse
	s.Goroutines = runtime.NumGoroutine()
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.FDs = len(ents)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		s.NoFileSoft, s.NoFileHard = rl.Cur, rl.Max
	}
	return s
}

// selfCPU returns this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// readVmRSS returns VmRSS and VmHWM from /proc/self/status, in bytes.
func readVmRSS() (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &hwm
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
			*dst = kb << 10
		}
	}
	return rss, hwm
}

// raiseNoFile raises this process's RLIMIT_NOFILE soft limit to the hard
// limit and returns the limits now in force. (Go's os package already
// does this at start-up on Linux; doing it here makes it explicit and
// reportable.)
func raiseNoFile() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return rl.Cur, rl.Max, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return rl.Cur, rl.Max, nil
}
