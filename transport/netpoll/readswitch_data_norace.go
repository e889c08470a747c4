//go:build linux && !race

package netpoll

import (
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// epollData is the epoll data netpoll registers op's descriptor with: a
// pointer to the operator (netpoll's poll_default_linux_norace.go). netpoll
// keeps the operator alive while the descriptor is registered.
func epollData(op *netpoll.FDOperator) uint64 { return uint64(uintptr(unsafe.Pointer(op))) }
