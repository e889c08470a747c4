//go:build framelinkdebug

package pool

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Debug reports whether the pool was built with -tags framelinkdebug.
const Debug = true

// Poison fills released buffers in the debug build.
const Poison = 0xDE

// r[impl pool.debug]
var (
	debugMu sync.Mutex
	// out maps the array of every buffer handed out to the stack that
	// took it; released maps every pooled array to the stack that freed it.
	out      = map[unsafe.Pointer]string{}
	released = map[unsafe.Pointer]string{}
)

func caller() string {
	var pcs [8]uintptr
	n := runtime.Callers(4, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	s := ""
	for {
		f, more := frames.Next()
		s += fmt.Sprintf("\n\t%s (%s:%d)", f.Function, f.File, f.Line)
		if !more {
			return s
		}
	}
}

func debugNew(b []byte) {
	debugMu.Lock()
	out[unsafe.Pointer(unsafe.SliceData(b))] = caller()
	debugMu.Unlock()
}

func debugGet(b []byte) {
	p := unsafe.Pointer(unsafe.SliceData(b))
	for i, v := range b {
		if v != Poison {
			debugMu.Lock()
			freed := released[p]
			debugMu.Unlock()
			panic(fmt.Sprintf("framelink/pool: buffer written after release (byte %d is %#x); released at:%s", i, v, freed))
		}
	}
	debugMu.Lock()
	delete(released, p)
	out[p] = caller()
	debugMu.Unlock()
}

func debugPut(b []byte) {
	p := unsafe.Pointer(unsafe.SliceData(b))
	debugMu.Lock()
	if freed, ok := released[p]; ok {
		debugMu.Unlock()
		panic("framelink/pool: double release; first released at:" + freed)
	}
	delete(out, p)
	released[p] = caller()
	debugMu.Unlock()
	for i := range b {
		b[i] = Poison
	}
}
