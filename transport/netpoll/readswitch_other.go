//go:build !linux && !windows

package netpoll

import "github.com/cloudwego/netpoll"

// readSwitch is Linux only (see readswitch_linux.go); elsewhere a pull
// link holds what netpoll reads, up to its input limit.
type readSwitch struct{}

func newReadSwitch(netpoll.Connection, func() bool) *readSwitch { return nil }

func (*readSwitch) setOff(bool) {}
func (*readSwitch) keepOn()     {}
func (*readSwitch) isOff() bool { return false }
