//go:build !framelinkdebug

package pool

// Debug reports whether the pool was built with -tags framelinkdebug.
const Debug = false

func debugNew([]byte) {}
func debugGet([]byte) {}
func debugPut([]byte) {}
