package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
)

// DirStorage is round.Storage in a folder:
//
//	state/<round ID>.json  one round's state, without payloads
//	updates/<hex digest>   each payload once (immutable, named by digest)
//
// A step rewrites only the rounds it changed; a forgotten round's state and
// payloads are deleted. Payloads are written before the state that names
// them, and a state deleted before its payloads, so a crash leaves at worst
// an unreferenced payload, which Load removes.
type DirStorage struct {
	dir string
	// refs counts, per payload digest, the stored rounds that name it.
	refs map[string]map[string]bool
}

// legacyStateFile is where states lived before DirStorage: all rounds in
// one file rewritten on every step. Load migrates it.
const legacyStateFile = "rounds.json"

// OpenDirStorage creates dir if needed and returns its storage.
func OpenDirStorage(dir string) (*DirStorage, error) {
	for _, sub := range []string{"state", "updates"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("round storage: %w", err)
		}
	}
	return &DirStorage{dir: dir, refs: map[string]map[string]bool{}}, nil
}

// Load implements round.Storage: it reads every round, checks each payload
// against its digest, migrates a legacy rounds.json and removes payloads no
// round names.
func (d *DirStorage) Load() ([]round.State, error) {
	if err := d.migrate(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(d.dir, "state"))
	if err != nil {
		return nil, fmt.Errorf("round storage: %w", err)
	}
	var states []round.State
	d.refs = map[string]map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := d.readState(filepath.Join(d.dir, "state", e.Name()))
		if err != nil {
			return nil, err
		}
		d.track(st)
		states = append(states, st)
	}
	return states, d.sweep()
}

func (d *DirStorage) readState(path string) (round.State, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return round.State{}, fmt.Errorf("round storage: %w", err)
	}
	var st round.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return round.State{}, fmt.Errorf("round state %s is corrupt: %w", path, err)
	}
	return st, d.attachPayloads(&st)
}

func (d *DirStorage) attachPayloads(st *round.State) error {
	for msp, u := range st.Received {
		if !nft.IsDigest(u.Digest) {
			return fmt.Errorf("round %s: update of %s names no digest (%q)", st.Round.ID, msp, u.Digest)
		}
		payload, err := os.ReadFile(d.blobPath(u.Digest))
		if err != nil {
			return fmt.Errorf("round %s: update of %s: %w", st.Round.ID, msp, err)
		}
		if nft.DigestBytes(payload) != u.Digest {
			return fmt.Errorf("round %s: stored update of %s does not hash to %s", st.Round.ID, msp, u.Digest)
		}
		u.Payload = payload
		st.Received[msp] = u
	}
	if own := st.Own; own != nil {
		if u, ok := st.Received[own.MSPID]; ok {
			own.Payload = u.Payload
		} else if !nft.IsDigest(own.Digest) {
			return fmt.Errorf("round %s: own update names no digest (%q)", st.Round.ID, own.Digest)
		} else if payload, err := os.ReadFile(d.blobPath(own.Digest)); err == nil {
			own.Payload = payload
		}
	}
	return nil
}

// Save implements round.Storage.
func (d *DirStorage) Save(changed []round.State, forgotten []string) error {
	for _, st := range changed {
		if err := d.saveState(st); err != nil {
			return err
		}
	}
	for _, id := range forgotten {
		if err := d.remove(id); err != nil {
			return err
		}
	}
	return nil
}

func (d *DirStorage) saveState(s round.State) error {
	path, err := d.statePath(s.Round.ID)
	if err != nil {
		return err
	}
	updates := make([]round.Update, 0, len(s.Received)+1)
	for _, u := range s.Received {
		updates = append(updates, u)
	}
	if s.Own != nil {
		updates = append(updates, *s.Own)
	}
	for _, u := range updates {
		if err := d.saveBlob(u); err != nil {
			return err
		}
	}
	s.Received = stripPayloads(s.Received)
	s.Early = stripPayloads(s.Early)
	if s.Own != nil {
		own := *s.Own
		own.Payload = nil
		s.Own = &own
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := devca.WriteFileAtomic(path, raw, 0o600); err != nil {
		return fmt.Errorf("round storage: %w", err)
	}
	d.track(s)
	return nil
}

// remove deletes a forgotten round's state, then the payloads no other
// stored round names.
func (d *DirStorage) remove(id string) error {
	path, err := d.statePath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("round storage: %w", err)
	}
	for digest, rounds := range d.refs {
		if !rounds[id] {
			continue
		}
		delete(rounds, id)
		if len(rounds) == 0 {
			delete(d.refs, digest)
			if err := os.Remove(d.blobPath(digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("round storage: %w", err)
			}
		}
	}
	return nil
}

// track records which payloads a stored round names.
func (d *DirStorage) track(s round.State) {
	for _, rounds := range d.refs {
		delete(rounds, s.Round.ID)
	}
	name := func(digest string) {
		if digest == "" {
			return
		}
		if d.refs[digest] == nil {
			d.refs[digest] = map[string]bool{}
		}
		d.refs[digest][s.Round.ID] = true
	}
	for _, u := range s.Received {
		name(u.Digest)
	}
	if s.Own != nil {
		name(s.Own.Digest)
	}
}

// sweep removes payloads that no stored round names (left by a crash
// between deleting a state and its payloads) and stray temporary files.
func (d *DirStorage) sweep() error {
	entries, err := os.ReadDir(filepath.Join(d.dir, "updates"))
	if err != nil {
		return fmt.Errorf("round storage: %w", err)
	}
	for _, e := range entries {
		if _, named := d.refs[nft.DigestPrefix+e.Name()]; named {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, "updates", e.Name())); err != nil {
			return fmt.Errorf("round storage: %w", err)
		}
	}
	return nil
}

// migrate moves a legacy rounds.json into per-round files.
func (d *DirStorage) migrate() error {
	legacy := filepath.Join(d.dir, legacyStateFile)
	raw, err := os.ReadFile(legacy)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading round state: %w", err)
	}
	var states []round.State
	if err := json.Unmarshal(raw, &states); err != nil {
		return fmt.Errorf("round state in %s is corrupt: %w", d.dir, err)
	}
	for i := range states {
		if err := d.attachPayloads(&states[i]); err != nil {
			return err
		}
		if err := d.saveState(states[i]); err != nil {
			return err
		}
	}
	return os.Remove(legacy)
}

func (d *DirStorage) statePath(id string) (string, error) {
	// Round IDs are names (the chaincode checks), never paths.
	if !nft.IsValidName(id) {
		return "", fmt.Errorf("round storage: round ID %q is not a name", id)
	}
	return filepath.Join(d.dir, "state", id+".json"), nil
}

func (d *DirStorage) saveBlob(u round.Update) error {
	path := d.blobPath(u.Digest)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return devca.WriteFileAtomic(path, u.Payload, 0o600)
}

func (d *DirStorage) blobPath(digest string) string {
	return filepath.Join(d.dir, "updates", strings.TrimPrefix(digest, nft.DigestPrefix))
}

// stripPayloads copies a map of updates without their payloads. Early
// updates are not persisted at all: they were never matched to a
// commitment and peers will send or serve them again.
func stripPayloads(in map[string]round.Update) map[string]round.Update {
	out := make(map[string]round.Update, len(in))
	for k, u := range in {
		if u.Digest == "" {
			continue
		}
		u.Payload = nil
		out[k] = u
	}
	return out
}
