package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// blockFile is the append-only file of blocks, as in Fabric's block store:
// blocks are the bulk of what a ledger writes, and in LevelDB they would be
// copied again by every compaction. Each record is
//
//	<length uint32> <CRC-32C of the block uint32> <block>
//
// and the LevelDB index maps each block number to its record. A block is
// appended and synced before the batch that indexes it, so after a crash
// the file holds every indexed block and at most an unindexed tail, which
// opening cuts off.
type blockFile struct {
	f *os.File
	// end is the end of the last indexed record: where the next goes.
	// Guarded by the store's commitMu.
	end int64
}

const recordHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openBlockFile opens the file whose indexed records end at indexedEnd,
// cutting off an unindexed tail unless readOnly.
func openBlockFile(path string, indexedEnd int64, readOnly bool) (*blockFile, error) {
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("block file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("block file: %w", err)
	}
	switch size := info.Size(); {
	case size < indexedEnd:
		f.Close()
		return nil, fmt.Errorf("block file %s is %d bytes short of its index: blocks are missing", path, indexedEnd-size)
	case size > indexedEnd && !readOnly:
		// A block appended by a commit that did not complete.
		if err := f.Truncate(indexedEnd); err != nil {
			f.Close()
			return nil, fmt.Errorf("block file: cutting an uncommitted tail: %w", err)
		}
	}
	return &blockFile{f: f, end: indexedEnd}, nil
}

// appendSynced writes a record at the end and syncs it; the new end takes
// effect with commit, once the record is indexed.
func (b *blockFile) appendSynced(block []byte) (pendingEnd int64, err error) {
	rec := make([]byte, recordHeader, recordHeader+len(block))
	binary.BigEndian.PutUint32(rec[0:4], uint32(len(block)))
	binary.BigEndian.PutUint32(rec[4:8], crc32.Checksum(block, castagnoli))
	rec = append(rec, block...)
	if _, err := b.f.WriteAt(rec, b.end); err != nil {
		return 0, fmt.Errorf("block file: %w", err)
	}
	if err := unix.Fdatasync(int(b.f.Fd())); err != nil {
		return 0, fmt.Errorf("block file: sync: %w", err)
	}
	return b.end + int64(len(rec)), nil
}

// abandon cuts off a record whose index was not written.
func (b *blockFile) abandon() error { return b.f.Truncate(b.end) }

// read returns the block of the record at offset, checking its checksum.
func (b *blockFile) read(offset int64, length uint32) ([]byte, error) {
	rec := make([]byte, recordHeader+int(length))
	if _, err := b.f.ReadAt(rec, offset); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("block file: record at %d runs past the end", offset)
		}
		return nil, fmt.Errorf("block file: %w", err)
	}
	if got := binary.BigEndian.Uint32(rec[0:4]); got != length {
		return nil, fmt.Errorf("block file: record at %d has length %d, index says %d", offset, got, length)
	}
	block := rec[recordHeader:]
	if binary.BigEndian.Uint32(rec[4:8]) != crc32.Checksum(block, castagnoli) {
		return nil, fmt.Errorf("block file: record at %d fails its checksum", offset)
	}
	return block, nil
}

func (b *blockFile) close() error { return b.f.Close() }

// blockLocation is the index entry of a block: its record's offset and the
// block's length.
type blockLocation struct {
	offset int64
	length uint32
}

func (l blockLocation) encode() []byte {
	raw := binary.BigEndian.AppendUint64(nil, uint64(l.offset))
	return binary.BigEndian.AppendUint32(raw, l.length)
}

func decodeLocation(raw []byte) (blockLocation, bool) {
	if len(raw) != 12 {
		return blockLocation{}, false
	}
	return blockLocation{offset: int64(binary.BigEndian.Uint64(raw[:8])), length: binary.BigEndian.Uint32(raw[8:])}, true
}

func (l blockLocation) end() int64 { return l.offset + recordHeader + int64(l.length) }
