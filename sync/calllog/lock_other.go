//go:build !unix && !windows

package calllog

import "os"

// tryLock does nothing where the system has no file locks (js, wasip1): one process only.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) {}
