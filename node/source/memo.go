package source

import (
	"context"
	"maps"
	"math"
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
// a later range (the clock moved on) is fetched afresh, and for at most
// MaxAge.
//
// It keeps only complete answers: one series per ID asked, each with a
// sample. An empty or partial answer (a Prometheus still being filled, a
// series not scraped yet) is returned but fetched again next time, so the
// data that arrives later is seen.
type Memo struct {
	Source
	size int
	// MaxAge bounds how long an answer is reused (DefaultMemoAge).
	MaxAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time

	mu      sync.Mutex
	entries []memoEntry // most recent last
}

type memoEntry struct {
	key    string
	at     time.Time
	series []Series
}

// DefaultMemoAge is how long a Memo reuses an answer by default: long
// enough for one generation's evidence and backtests.
const DefaultMemoAge = 5 * time.Minute

// NewMemo remembers the last size fetches of src (at least one).
func NewMemo(src Source, size int) *Memo {
	return &Memo{Source: src, size: max(size, 1), MaxAge: DefaultMemoAge, Now: time.Now}
}

// Fetch answers from memory when the same series over the same range were
// fetched lately. What it returns is the caller's to change.
func (m *Memo) Fetch(ctx context.Context, ids []string, r Range) ([]Series, error) {
	key := memoKey(ids, r)
	now := m.now()
	m.mu.Lock()
	m.entries = slices.DeleteFunc(m.entries, func(e memoEntry) bool { return now.Sub(e.at) > m.maxAge() || now.Before(e.at) })
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
	if !complete(ids, series) {
		return series, nil
	}
	m.mu.Lock()
	m.entries = slices.DeleteFunc(m.entries, func(e memoEntry) bool { return e.key == key })
	m.entries = append(m.entries, memoEntry{key: key, at: now, series: cloneSeries(series)})
	if len(m.entries) > m.size {
		m.entries = slices.Delete(m.entries, 0, len(m.entries)-m.size)
	}
	m.mu.Unlock()
	return series, nil
}

func (m *Memo) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *Memo) maxAge() time.Duration {
	if m.MaxAge <= 0 {
		return DefaultMemoAge
	}
	return m.MaxAge
}

// complete reports whether an answer holds one named series per ID, each
// with at least one sample.
func complete(ids []string, series []Series) bool {
	if len(series) != len(ids) || len(series) == 0 {
		return false
	}
	for _, s := range series {
		if s.Info.Metric == "" || !slices.ContainsFunc(s.Values, func(v float64) bool { return !math.IsNaN(v) }) {
			return false
		}
	}
	return true
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
