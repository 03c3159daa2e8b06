//go:build linux && (amd64 || arm64)

package store

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dataSyncer flushes a file's data to stable storage, as fdatasync(2) does,
// without holding one of the Go scheduler's processors while the disk
// works.
//
// A plain fdatasync is a blocking system call made on a P: the runtime
// takes that P back only when its monitor thread notices the call has run
// for a whole tick, and under a steady load the monitor sleeps up to 10 ms
// between looks. A block commit syncs for half a millisecond or more, so on
// a two-core machine the committer's sync idled a quarter of the CPUs it
// could have used for endorsements while it waited. Here the sync is
// submitted to the kernel with Linux AIO (IOCB_CMD_FDSYNC, run by a kernel
// worker since Linux 4.18) and its completion is signalled on an eventfd
// that Go's network poller waits on, which parks the goroutine and frees
// its P at once.
//
// When the kernel refuses AIO (too old, aio-max-nr exhausted, a seccomp
// filter, a file system without the operation) it falls back to
// fdatasync for good: same durability, only the scheduling differs.
type dataSyncer struct {
	mu       sync.Mutex // one sync in flight: the ring has one slot
	ctx      uintptr    // aio_context_t
	event    *os.File   // eventfd, non-blocking, served by the poller
	eventFD  int
	cb       *aioControlBlock // reused; on the heap, where it does not move
	fallback bool
	// why is what made it fall back, for tests and diagnostics.
	why error
}

// aioControlBlock is struct iocb of <linux/aio_abi.h> on the little-endian
// 64-bit machines this file builds for.
type aioControlBlock struct {
	data      uint64
	key       uint32
	rwFlags   int32
	opcode    uint16
	reqprio   int16
	fd        uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

// aioEvent is struct io_event.
type aioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

const (
	aioCmdFdsync = 3      // IOCB_CMD_FDSYNC
	aioFlagResfd = 1 << 0 // IOCB_FLAG_RESFD: signal completion on resfd
	aioSlots     = 1
)

// newDataSyncer sets up an AIO context and its eventfd, or returns a
// syncer that uses fdatasync when the kernel offers neither.
func newDataSyncer() *dataSyncer {
	s := &dataSyncer{cb: new(aioControlBlock)}
	var ctx uintptr
	if _, _, errno := unix.Syscall(unix.SYS_IO_SETUP, aioSlots, uintptr(unsafe.Pointer(&ctx)), 0); errno != 0 {
		s.fallback, s.why = true, fmt.Errorf("io_setup: %w", errno)
		return s
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		s.fallback, s.why = true, fmt.Errorf("eventfd: %w", err)
		return s
	}
	s.ctx, s.eventFD = ctx, fd
	// A non-blocking descriptor is registered with the network poller, so
	// reading it parks the goroutine instead of blocking its thread.
	s.event = os.NewFile(uintptr(fd), "aio-eventfd")
	return s
}

// sync flushes f's data. It returns once the data is durable, or with the
// error fdatasync would have returned.
func (s *dataSyncer) sync(f *os.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fallback {
		return fdatasync(f)
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var submitErr error
	submitted := false
	if err := conn.Control(func(fd uintptr) {
		submitted, submitErr = s.submit(int(fd))
	}); err != nil {
		return err
	}
	if !submitted {
		if errors.Is(submitErr, unix.EINVAL) || errors.Is(submitErr, unix.ENOSYS) {
			// The file system has no asynchronous fsync: use the plain call
			// from now on.
			s.fallback, s.why = true, fmt.Errorf("io_submit: %w", submitErr)
			return fdatasync(f)
		}
		return submitErr
	}
	return s.wait()
}

// submit queues the sync. It reports false with the error when the kernel
// did not take it.
func (s *dataSyncer) submit(fd int) (bool, error) {
	*s.cb = aioControlBlock{opcode: aioCmdFdsync, fd: uint32(fd), flags: aioFlagResfd, resfd: uint32(s.eventFD)}
	cbs := [1]*aioControlBlock{s.cb}
	for {
		n, _, errno := unix.Syscall(unix.SYS_IO_SUBMIT, s.ctx, 1, uintptr(unsafe.Pointer(&cbs[0])))
		runtime.KeepAlive(s.cb)
		switch {
		case errno == unix.EINTR || errno == unix.EAGAIN:
			continue
		case errno != 0:
			return false, errno
		case n != 1:
			return false, fmt.Errorf("io_submit queued %d of 1 requests", n)
		}
		return true, nil
	}
}

// wait parks until the eventfd counts the completion, then collects it.
func (s *dataSyncer) wait() error {
	var counter [8]byte
	if _, err := s.event.Read(counter[:]); err != nil {
		return fmt.Errorf("waiting for the data sync: %w", err)
	}
	var ev aioEvent
	for {
		// The completion is already there; min_nr 1 with no timeout only
		// blocks if the eventfd was signalled by something else.
		n, _, errno := unix.Syscall6(unix.SYS_IO_GETEVENTS, s.ctx, 1, 1, uintptr(unsafe.Pointer(&ev)), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("collecting the data sync: %w", errno)
		}
		if n != 1 {
			return fmt.Errorf("collecting the data sync: io_getevents returned %d events", n)
		}
		break
	}
	if ev.res < 0 {
		return unix.Errno(-ev.res)
	}
	return nil
}

// close releases the AIO context and the eventfd.
func (s *dataSyncer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fallback || s.event == nil {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_IO_DESTROY, s.ctx, 0, 0)
	err := s.event.Close()
	s.event = nil
	s.fallback = true
	if errno != 0 {
		return errors.Join(fmt.Errorf("io_destroy: %w", errno), err)
	}
	return err
}

func fdatasync(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var syncErr error
	if err := conn.Control(func(fd uintptr) {
		for {
			syncErr = unix.Fdatasync(int(fd))
			if syncErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return syncErr
}
