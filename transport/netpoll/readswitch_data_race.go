//go:build linux && race

package netpoll

import "github.com/cloudwego/netpoll"

// epollData is the epoll data netpoll registers op's descriptor with in a
// race build: the descriptor number in the low 32 bits (netpoll's
// poll_default_linux_race.go looks the operator up in a map).
func epollData(op *netpoll.FDOperator) uint64 { return uint64(uint32(int32(op.FD))) }
