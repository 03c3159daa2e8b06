package source

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memo is a Source that remembers its latest fetches. Generating one SLO
// reads the same history several times (the evidence, then a backtest of
// each candidate SLI), and from Prometheus each read of days of every
// series of a service takes seconds; with a Memo they cost one fetch. It
// keeps the last few answers, each keyed by the exact series and range, so
// a later range (the clock moved on) is fetched afresh.
type Memo struct {
	Source
	size int

	mu      sync.Mutex
	entries []memoEntry // most recent last
}

type memoEntry struct {
	key    string
	series []Series
}

// NewMemo remembers the last size fetches of src (at least one).
func NewMemo(src Source, size int) *Memo {
	return &Memo{Source: src, size: max(size, 1)}
}

// Fetch answers from memory when the same series over the same range were
// fetched lately. What it returns is the caller's to change.
func (m *Memo) Fetch(ctx context.Context, ids []string, r Range) ([]Series, error) {
	key := memoKey(ids, r)
	m.mu.Lock()
	for i, e := range m.entries {
		if e.key == key {
			m.entries = append(slices.Delete(m.entries, i, i+1), e)
			m.mu.Unlock()
			return cloneSeries(e.series), nil
		}
	}
	m.mu.Unlock()
	series, err := m.Source.Fetch(ctx, ids, r)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.entries = append(m.entries, memoEntry{key: key, series: cloneSeries(series)})
	if len(m.entries) > m.size {
		m.entries = slices.Delete(m.entries, 0, len(m.entries)-m.size)
	}
	m.mu.Unlock()
	return series, nil
}

func memoKey(ids []string, r Range) string {
	return strings.Join(ids, "\x00") + "\x01" + r.Start.UTC().Format(time.RFC3339Nano) + "\x01" +
		r.End.UTC().Format(time.RFC3339Nano) + "\x01" + r.Step.String()
}

func cloneSeries(in []Series) []Series {
	out := make([]Series, len(in))
	for i, s := range in {
		out[i] = s
		out[i].Values = slices.Clone(s.Values)
		out[i].Info.Labels = maps.Clone(s.Info.Labels)
	}
	return out
}
