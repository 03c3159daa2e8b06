package store

import (
	"bufio"
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
// and the LevelDB index maps each block number to its record.
//
// The file is the ledger's durable record, as Fabric's is: a commit syncs
// its block here, and only then writes the block's state, history and
// index to LevelDB, without a sync of its own. After a crash the file may
// hold blocks beyond the index (LevelDB lost its latest unsynced batches,
// which a power cut can do): they are unindexed and the ledger applies them
// again when it opens. A torn last record, from a crash during an append,
// is cut off.
type blockFile struct {
	f *os.File
	// end is the end of the last indexed record. Guarded by the store's
	// commitMu, as is unindexed.
	end int64
	// unindexed are the complete records after end, oldest first.
	unindexed []record
}

// record is a block record in the file.
type record struct {
	loc   blockLocation
	block []byte
}

const recordHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openBlockFile opens the file whose indexed records end at indexedEnd,
// reading the complete records after it and cutting off a torn one unless
// readOnly.
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
	size := info.Size()
	if size < indexedEnd {
		f.Close()
		return nil, fmt.Errorf("block file %s is %d bytes short of its index: blocks are missing", path, indexedEnd-size)
	}
	b := &blockFile{f: f, end: indexedEnd}
	complete := indexedEnd
	for complete < size {
		rec, ok := b.readRecord(complete, size)
		if !ok {
			break
		}
		b.unindexed = append(b.unindexed, rec)
		complete = rec.loc.end()
	}
	if complete < size && !readOnly {
		// A record torn by a crash during its append: its commit never
		// returned.
		if err := f.Truncate(complete); err != nil {
			f.Close()
			return nil, fmt.Errorf("block file: cutting a torn record: %w", err)
		}
	}
	return b, nil
}

// readRecord reads a whole record at offset, if one ends by size and its
// checksum holds.
func (b *blockFile) readRecord(offset, size int64) (record, bool) {
	if size-offset < recordHeader {
		return record{}, false
	}
	var hdr [recordHeader]byte
	if _, err := b.f.ReadAt(hdr[:], offset); err != nil {
		return record{}, false
	}
	loc := blockLocation{offset: offset, length: binary.BigEndian.Uint32(hdr[0:4])}
	if loc.end() > size {
		return record{}, false
	}
	block, err := b.read(loc.offset, loc.length)
	if err != nil {
		return record{}, false
	}
	return record{loc: loc, block: block}, true
}

// appendSynced writes a record at the end and syncs it; the new end takes
// effect with commit, once the record is indexed.
func (b *blockFile) appendSynced(block []byte) (pendingEnd int64, err error) {
	if len(b.unindexed) > 0 {
		return 0, errors.New("block file: blocks beyond the index must be applied before new ones are appended")
	}
	var header [recordHeader]byte
	binary.BigEndian.PutUint32(header[0:4], uint32(len(block)))
	binary.BigEndian.PutUint32(header[4:8], crc32.Checksum(block, castagnoli))
	fd := int(b.f.Fd())
	if err := writeFullAt(fd, b.end, header[:], block); err != nil {
		return 0, fmt.Errorf("block file: %w", err)
	}
	if err := unix.Fdatasync(fd); err != nil {
		return 0, fmt.Errorf("block file: sync: %w", err)
	}
	return b.end + recordHeader + int64(len(block)), nil
}

// writeFullAt writes the buffers one after the other at offset with
// pwritev, which spares copying a block behind its record header, and
// goes on after a short write.
func writeFullAt(fd int, offset int64, bufs ...[]byte) error {
	for len(bufs) > 0 {
		n, err := unix.Pwritev(fd, bufs, offset)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		offset += int64(n)
		bufs = advance(bufs, n)
	}
	return nil
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// abandon cuts off what a failed append may have written, keeping every
// record before it, indexed or not.
func (b *blockFile) abandon() error { return b.f.Truncate(b.tail()) }

// tail is the end of the last whole record.
func (b *blockFile) tail() int64 {
	if n := len(b.unindexed); n > 0 {
		return b.unindexed[n-1].loc.end()
	}
	return b.end
}

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
		return nil, fmt.Errorf("%w: has length %d, the index says %d", errBadRecord, got, length)
	}
	block := rec[recordHeader:]
	if binary.BigEndian.Uint32(rec[4:8]) != crc32.Checksum(block, castagnoli) {
		return nil, fmt.Errorf("%w: fails its checksum", errBadRecord)
	}
	return block, nil
}

// errBadRecord is a record whose bytes do not hold what was written.
var errBadRecord = errors.New("bad record")

// verify checks the checksum of every record from offset from (a record's
// start) up to end, the end of the last indexed record: first is the
// number of the block at from, and the records must be the blocks first
// to last, no more, no less. Reading sequentially, it takes about a second
// a gigabyte.
func (b *blockFile) verify(from, end int64, first, last uint64) error {
	r := bufio.NewReaderSize(io.NewSectionReader(b.f, from, end-from), 1<<20)
	var hdr [recordHeader]byte
	var buf []byte
	offset, num := from, first
	for offset < end {
		if num > last {
			return blockDamage(num, offset, fmt.Sprintf("follows the last indexed block %d before the indexed end at %d", last, end))
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return blockDamage(num, offset, fmt.Sprintf("cannot be read: %v", err))
		}
		length := int64(binary.BigEndian.Uint32(hdr[0:4]))
		if offset+recordHeader+length > end {
			return blockDamage(num, offset, fmt.Sprintf("has a length (%d) that runs past the last indexed block", length))
		}
		if int64(cap(buf)) < length {
			buf = make([]byte, length)
		}
		buf = buf[:length]
		if _, err := io.ReadFull(r, buf); err != nil {
			return blockDamage(num, offset, fmt.Sprintf("cannot be read: %v", err))
		}
		if binary.BigEndian.Uint32(hdr[4:8]) != crc32.Checksum(buf, castagnoli) {
			return blockDamage(num, offset, "fails its checksum")
		}
		offset += recordHeader + length
		num++
	}
	if num != last+1 {
		return blockDamage(num, offset, fmt.Sprintf("is missing: the indexed records end after block %d, the index has %d", num-1, last))
	}
	return nil
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
