package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/records"
)

type roundLedger map[string]records.Round

func (l roundLedger) Round(_ context.Context, id string) (records.Round, error) {
	r, ok := l[id]
	if !ok {
		return r, errors.New("not found")
	}
	return r, nil
}

// A node catching up recognises finished rounds from the ledger.
func TestRoundPassed(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	round := func(id string, status records.RoundStatus, commitIn time.Duration) records.Round {
		r := records.Round{Status: status}
		r.ID, r.CommitDeadline = id, records.FormatTime(now.Add(commitIn))
		return r
	}
	l := roundLedger{
		"live":      round("live", records.RoundOpen, time.Minute),
		"finalized": round("finalized", records.RoundFinalized, time.Minute),
		"failed":    round("failed", records.RoundFailed, time.Minute),
	}
	tests := []struct {
		event records.Round
		want  bool
	}{
		{round("live", records.RoundOpen, time.Minute), false},
		{round("finalized", records.RoundOpen, time.Minute), true},
		{round("failed", records.RoundOpen, time.Minute), true},
		{round("old", records.RoundOpen, -time.Hour), true},
		{round("unknown", records.RoundOpen, time.Minute), false},
	}
	for _, tt := range tests {
		if got := roundPassed(context.Background(), l, tt.event, now); got != tt.want {
			t.Errorf("%s: passed = %v, want %v", tt.event.ID, got, tt.want)
		}
	}
}
