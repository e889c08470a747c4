package netstd

import "runtime"

// waitTick yields while polling a condition that another goroutine will
// make true; it is not a timing assumption.
func waitTick() { runtime.Gosched() }
