// Package datadir guards a node's data folder: one node per folder. Two
// nodes on one folder would share a libp2p identity (both registering the
// same peer ID), an event checkpoint and round state, and corrupt all three.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the file, inside the data folder, that the lock is held on.
const LockFile = "LOCK"

// Lock is an exclusive lock on a data folder, held until Release or until
// the process exits (the kernel drops it with the file descriptor, so a
// crashed node leaves no stale lock behind).
type Lock struct{ f *os.File }

// ErrLocked says another process holds the folder.
var ErrLocked = errors.New("data folder in use")

// Acquire takes the lock on dir without waiting. The file records the
// holder's process ID, for the error another node gets.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(holder))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w: %s is locked by another node (pid %s); one data_dir serves one node: %v", ErrLocked, dir, pid, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
