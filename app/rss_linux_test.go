package app

import (
	"os"
	"syscall"
)

// peakRSSKB is the peak resident set of an exited child, in kilobytes.
func peakRSSKB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // kilobytes on Linux
	}
	return 0
}
