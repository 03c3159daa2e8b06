//go:build linux && (amd64 || arm64)

package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestAIOStructsMatchTheKernelABI: the kernel reads struct iocb and writes
// struct io_event at these offsets (<linux/aio_abi.h>, little-endian).
func TestAIOStructsMatchTheKernelABI(t *testing.T) {
	var cb aioControlBlock
	var ev aioEvent
	fields := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct iocb)", unsafe.Sizeof(cb), 64},
		{"aio_data", unsafe.Offsetof(cb.data), 0},
		{"aio_key", unsafe.Offsetof(cb.key), 8},
		{"aio_rw_flags", unsafe.Offsetof(cb.rwFlags), 12},
		{"aio_lio_opcode", unsafe.Offsetof(cb.opcode), 16},
		{"aio_reqprio", unsafe.Offsetof(cb.reqprio), 18},
		{"aio_fildes", unsafe.Offsetof(cb.fd), 20},
		{"aio_buf", unsafe.Offsetof(cb.buf), 24},
		{"aio_nbytes", unsafe.Offsetof(cb.nbytes), 32},
		{"aio_offset", unsafe.Offsetof(cb.offset), 40},
		{"aio_flags", unsafe.Offsetof(cb.flags), 56},
		{"aio_resfd", unsafe.Offsetof(cb.resfd), 60},
		{"sizeof(struct io_event)", unsafe.Sizeof(ev), 32},
		{"io_event.res", unsafe.Offsetof(ev.res), 16},
	}
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}

// TestDataSyncerSyncsThroughAIO: on a kernel with AIO the syncer keeps
// using it across syncs; the data written before a sync reads back.
func TestDataSyncerSyncsThroughAIO(t *testing.T) {
	s := newDataSyncer()
	defer s.close()
	if s.fallback {
		if errors.Is(s.why, unix.ENOSYS) || errors.Is(s.why, unix.EPERM) || errors.Is(s.why, unix.EAGAIN) {
			t.Skipf("this kernel offers no AIO context (%v); the fallback is tested below", s.why)
		}
		t.Fatalf("fell back at setup: %v", s.why)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 20 {
		if _, err := f.WriteAt([]byte{byte(i)}, int64(i)); err != nil {
			t.Fatal(err)
		}
		if err := s.sync(f); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if s.fallback {
		t.Fatalf("fell back after syncing a regular file: %v", s.why)
	}
	got := make([]byte, 20)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("byte %d = %d after syncs", i, b)
		}
	}
}

// TestDataSyncerReportsFailures: a sync the kernel cannot do fails as
// fdatasync would, and a file it cannot sync asynchronously (a pipe) makes
// the syncer fall back to fdatasync without breaking later syncs.
func TestDataSyncerReportsFailures(t *testing.T) {
	s := newDataSyncer()
	defer s.close()

	closed, err := os.Create(filepath.Join(t.TempDir(), "closed"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if err := s.sync(closed); err == nil {
		t.Error("sync of a closed file succeeded")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := s.sync(w); !errors.Is(err, unix.EINVAL) {
		t.Errorf("sync of a pipe: %v, want EINVAL as fdatasync gives", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("block")); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(f); err != nil {
		t.Errorf("sync after a refused one: %v", err)
	}
	if err := s.close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := s.sync(f); err != nil {
		t.Errorf("sync after close falls back to fdatasync, got %v", err)
	}
}
