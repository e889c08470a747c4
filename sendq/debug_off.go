//go:build !framelinkdebug

package sendq

// slotTrack is empty outside the debug build.
type slotTrack struct{}

func (slotTrack) start(*op) {}
func (slotTrack) stop()     {}
