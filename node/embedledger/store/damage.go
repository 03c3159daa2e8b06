package store

import (
	"errors"
	"fmt"
	"path/filepath"

	lderrors "github.com/syndtr/goleveldb/leveldb/errors"
)

// ErrDamaged marks a read that found the store damaged: a corrupt LevelDB
// table or journal, or a block record that fails its checksum. Such an
// error names what is damaged and the remedy; it is never reported as an
// absent key or a missing block.
var ErrDamaged = errors.New("ledger store damaged")

var (
	errIndexDamaged = errors.New("the index is damaged")
	errBlockDamaged = errors.New("the block file is damaged")
)

// indexError wraps an error LevelDB returned for a read.
func indexError(err error) error {
	if lderrors.IsCorrupted(err) {
		return fmt.Errorf("%w: %w (LevelDB: %v)", ErrDamaged, errIndexDamaged, err)
	}
	return fmt.Errorf("reading the index: %w", err)
}

// blockDamage is a block record that fails its checks.
func blockDamage(num uint64, offset int64, problem string) error {
	return fmt.Errorf("%w: %w: block %d (record at offset %d) %s", ErrDamaged, errBlockDamaged, num, offset, problem)
}

// withRemedy adds to a damage error what the operator can do about it.
func withRemedy(err error, dir string) error {
	switch {
	case errors.Is(err, errIndexDamaged):
		return fmt.Errorf("%w; the block file is the ledger's record: stop the ledger, move %s aside and start it again to rebuild the index from the blocks (as Fabric's 'peer node rebuild-dbs' does)",
			err, filepath.Join(dir, "index"))
	case errors.Is(err, errBlockDamaged):
		return fmt.Errorf("%w; the block file is the ledger's record and nothing rebuilds it: stop the ledger and restore %s from a backup ('srellama audit verify --ledger-dir' checks every block)",
			err, filepath.Join(dir, "blocks"))
	}
	return err
}
