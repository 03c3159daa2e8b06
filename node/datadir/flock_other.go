//go:build !unix

package datadir

import (
	"fmt"
	"os"
	"runtime"
)

// Elsewhere no lock is implemented: refuse rather than run unguarded.
func tryLock(*os.File) error {
	return fmt.Errorf("locking a data folder is not implemented on %s", runtime.GOOS)
}

func unlock(*os.File) error { return nil }
