package linktest

import "testing"

func (s *suite) runRx(t *testing.T)      {}
func (s *suite) runClose(t *testing.T)   {}
func (s *suite) testStats(t *testing.T)  {}
func (s *suite) testErrors(t *testing.T) {}
func (s *suite) runRaw(t *testing.T)     {}
