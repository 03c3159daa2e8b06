package network

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/network/round/roundtest"
	"github.com/srellama/srellama/nft"
)

// folderSize counts the files and bytes under dir.
func folderSize(t *testing.T, dir string) (files int, bytes int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		files++
		bytes += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytes
}

// runRounds drives one member through n rounds of three members, one every
// ten minutes, persisting through DirStorage as the participant does, and
// returns the largest the folder grew.
func runRounds(t *testing.T, dir string, n int, retain time.Duration) (maxFiles int, maxBytes int64) {
	t.Helper()
	store, err := OpenDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := round.New(round.Config{Self: "Org1MSP", Grace: time.Minute, RetryEvery: 30 * time.Second, Retain: retain,
		Inspect:   func(_ records.Round, p []byte) (string, error) { return nft.DigestBytes(p), nil },
		Aggregate: roundtest.Aggregate})
	if err != nil {
		t.Fatal(err)
	}
	step := func(in round.Input) []round.Output {
		outs, err := m.Step(in).Persist(store)
		if err != nil {
			t.Fatal(err)
		}
		return outs
	}
	members := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		opened := t0.Add(time.Duration(i) * 10 * time.Minute)
		step(round.Tick{Now: opened})
		r := records.Round{RoundSpec: records.RoundSpec{ID: fmt.Sprintf("round-%04d", i), Services: []string{"amf"}, MinParticipants: 3,
			CommitDeadline: records.FormatTime(opened.Add(2 * time.Minute)), Deadline: records.FormatTime(opened.Add(5 * time.Minute))},
			Members: members, Status: records.RoundOpen}
		step(round.RoundOpened{Round: r})
		var claim *records.AggregateClaim
		for _, msp := range members {
			payload := bytes.Repeat([]byte(fmt.Sprintf("%s:%s;", r.ID, msp)), 4<<10/16)
			digest := nft.DigestBytes(payload)
			if msp == "Org1MSP" {
				step(round.Trained{RoundID: r.ID, Payload: payload})
			}
			step(round.UpdateCommitted{RoundID: r.ID, MSPID: msp, Digest: digest})
			for _, o := range step(round.UpdateReceived{RoundID: r.ID, Update: round.Update{MSPID: msp, Digest: digest, Payload: payload}}) {
				if a, ok := o.(round.SubmitAggregate); ok {
					claim = &a.Claim
				}
			}
		}
		if claim == nil {
			t.Fatalf("%s: no aggregate", r.ID)
		}
		step(round.Tick{Now: opened.Add(3 * time.Minute)})
		done := r
		done.Status, done.GlobalModelDigest, done.Contributors = records.RoundFinalized, claim.Digest, claim.Contributors
		step(round.RoundClosed{Round: done})
		step(round.Tick{Now: opened.Add(6 * time.Minute)})
		files, size := folderSize(t, dir)
		maxFiles, maxBytes = max(maxFiles, files), max(maxBytes, size)
	}
	return maxFiles, maxBytes
}

// 200 rounds with a one-hour retention: the folder holds the last hour's
// rounds (about seven), not all of them.
func TestRoundStateStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("200 rounds on disk")
	}
	dir := t.TempDir()
	maxFiles, maxBytes := runRounds(t, dir, 200, time.Hour)
	// Per kept round: one state file and three 4 KiB payloads.
	if maxFiles > 8*4 || maxBytes > 8*(3*4096+8192) {
		t.Fatalf("the folder grew to %d files, %d bytes over 200 rounds", maxFiles, maxBytes)
	}
	t.Logf("200 rounds, retention 1h: at most %d files, %d bytes", maxFiles, maxBytes)
	// What is left is what the last hour needs, and it loads back.
	store, err := OpenDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	states, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) == 0 || len(states) > 8 || states[len(states)-1].Round.ID != "round-0199" {
		t.Fatalf("%d rounds kept, last %+v", len(states), states[len(states)-1].Round.ID)
	}
}

// Without forgetting, the same run keeps every round: the figure the
// bound above is measured against.
func TestRoundStateWithoutRetentionGrows(t *testing.T) {
	if testing.Short() {
		t.Skip("rounds on disk")
	}
	maxFiles, _ := runRounds(t, t.TempDir(), 20, 0)
	if maxFiles != 20*4 {
		t.Fatalf("%d files for 20 rounds kept forever, want %d", maxFiles, 20*4)
	}
}

// A legacy rounds.json is migrated into per-round files, and payloads no
// round names (a crash between deleting a state and its payloads) are
// removed on load.
func TestDirStorageMigratesAndSweeps(t *testing.T) {
	dir := t.TempDir()
	payload := []byte("update:Org1MSP:1")
	digest := nft.DigestBytes(payload)
	st := round.State{Round: records.Round{RoundSpec: records.RoundSpec{ID: "round-1"}}, Phase: round.PhaseCollecting,
		Received: map[string]round.Update{"Org1MSP": {MSPID: "Org1MSP", Digest: digest}}}
	legacy := fmt.Sprintf(`[{"round":{"id":"round-1"},"phase":"collecting","received":{"Org1MSP":{"msp_id":"Org1MSP","digest":%q}}}]`, digest)
	if err := os.MkdirAll(filepath.Join(dir, "updates"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		legacyStateFile: []byte(legacy),
		filepath.Join("updates", digest[len(nft.DigestPrefix):]):                            payload,
		filepath.Join("updates", nft.DigestBytes([]byte("orphan"))[len(nft.DigestPrefix):]): []byte("orphan"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	store, err := OpenDirStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	states, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || !bytes.Equal(states[0].Received["Org1MSP"].Payload, payload) || states[0].Phase != st.Phase {
		t.Fatalf("migrated states %+v", states)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyStateFile)); !os.IsNotExist(err) {
		t.Fatal("rounds.json is still there")
	}
	if files, _ := folderSize(t, dir); files != 2 { // state/round-1.json and the named payload
		t.Fatalf("%d files after migration and sweep, want 2", files)
	}
	if err := store.Save(nil, []string{"round-1"}); err != nil {
		t.Fatal(err)
	}
	if files, _ := folderSize(t, dir); files != 0 {
		t.Fatalf("%d files left after forgetting the only round", files)
	}
}
