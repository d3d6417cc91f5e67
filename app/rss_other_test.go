//go:build !linux

package app

import "os"

// peakRSSKB is 0 where getrusage counts in other units or not at all: the benchmark then
// reports no peak.
func peakRSSKB(*os.ProcessState) int64 { return 0 }
