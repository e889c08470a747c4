package reliability

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() {
		printReport(os.Stdout)
	}
	if code == 0 {
		// Every engine-wide poller listed by an engine is allowed to
		// outlive the tests; nothing else is.
		if err := goleak.Find(allIgnores()...); err != nil {
			os.Stderr.WriteString("goleak: goroutines left after all tests: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
