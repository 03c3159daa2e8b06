// Package csvsource reads metric datasets stored as wide CSV files (one row
// per timestamp, one column per metric, optional label and entity columns,
// plain or gzip) and serves them through the source.Source interface. It
// knows the layouts of the Server Machine Dataset and of the Nezha RCA data
// and can be pointed at any file of the same shape.
package csvsource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TableOptions describe the columns of a wide CSV file.
type TableOptions struct {
	// TimeColumn holds the sample time (required).
	TimeColumn string
	// TimeLayout parses TimeColumn as text in UTC, using only as many leading
	// characters as the layout has (so "2006-01-02 15:04:05" reads
	// "2022-08-22 03:51:19.607 +0000 UTC m=+0.1"). Empty means Unix seconds.
	TimeLayout string
	// LabelColumn, if set and present, holds 0/1 anomaly labels.
	LabelColumn string
	// EntityColumn, if set and present, names the entity of each row (a pod,
	// a machine); it is kept as text.
	EntityColumn string
	// Ignore lists further non-metric columns.
	Ignore []string
	// MaxRows, if positive, keeps only the file's last MaxRows rows (files
	// are written in time order: the newest data), so memory is bounded
	// by the history a node asked for, not by the file's size.
	MaxRows int
}

// Table is a parsed wide CSV file, rows in file order.
type Table struct {
	Metrics []string
	// Times are Unix seconds.
	Times    []int64
	Labels   []float64 // nil without a label column
	Entities []string  // nil without an entity column
	// Values[j][i] is metric j at row i; NaN where the cell was empty or
	// "NaN".
	Values [][]float64
}

// maxRows bounds what one file may make us allocate.
const maxRows = 50_000_000

// ReadTable parses a wide CSV file. name is used in error messages, which
// give the line and column of the offending cell. Gzip input is detected by
// its magic bytes.
func ReadTable(r io.Reader, name string, opt TableOptions) (*Table, error) {
	if opt.TimeColumn == "" {
		return nil, fmt.Errorf("%s: no time column configured", name)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file (no header)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	header = slices.Clone(header) // ReuseRecord would overwrite it
	cols, err := layout(header, opt)
	if err != nil {
		return nil, fmt.Errorf("%s:1: %w", name, err)
	}
	t := &Table{Values: make([][]float64, len(cols.metrics))}
	for _, j := range cols.metrics {
		t.Metrics = append(t.Metrics, header[j])
	}
	if cols.label >= 0 {
		t.Labels = []float64{}
	}
	if cols.entity >= 0 {
		t.Entities = []string{}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err) // csv errors carry the line
		}
		line, _ := cr.FieldPos(0)
		if len(t.Times) >= maxRows {
			return nil, fmt.Errorf("%s:%d: more than %d rows", name, line, maxRows)
		}
		ts, err := parseTime(rec[cols.time], opt.TimeLayout)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: column %q: %w", name, line, header[cols.time], err)
		}
		t.Times = append(t.Times, ts)
		if cols.label >= 0 {
			l, err := strconv.ParseFloat(strings.TrimSpace(rec[cols.label]), 64)
			if err != nil || (l != 0 && l != 1) {
				return nil, fmt.Errorf("%s:%d: column %q: label %q is not 0 or 1", name, line, header[cols.label], rec[cols.label])
			}
			t.Labels = append(t.Labels, l)
		}
		if cols.entity >= 0 {
			t.Entities = append(t.Entities, rec[cols.entity])
		}
		for k, j := range cols.metrics {
			v, err := parseCell(rec[j])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %q: %w", name, line, header[j], err)
			}
			t.Values[k] = append(t.Values[k], v)
		}
		// Drop the oldest rows in batches, so the copy costs O(1) per row
		// and at most 2·MaxRows rows are ever held.
		if opt.MaxRows > 0 && len(t.Times) >= 2*opt.MaxRows {
			t.keepLast(opt.MaxRows)
		}
	}
	if len(t.Times) == 0 {
		return nil, fmt.Errorf("%s: no data rows", name)
	}
	if opt.MaxRows > 0 && len(t.Times) > opt.MaxRows {
		t.keepLast(opt.MaxRows)
	}
	return t, nil
}

// keepLast drops all but the last n rows, in place.
func (t *Table) keepLast(n int) {
	drop := len(t.Times) - n
	t.Times = append(t.Times[:0], t.Times[drop:]...)
	if t.Labels != nil {
		t.Labels = append(t.Labels[:0], t.Labels[drop:]...)
	}
	if t.Entities != nil {
		t.Entities = append(t.Entities[:0], t.Entities[drop:]...)
	}
	for k := range t.Values {
		t.Values[k] = append(t.Values[k][:0], t.Values[k][drop:]...)
	}
}

type columns struct {
	time, label, entity int
	metrics             []int
}

func layout(header []string, opt TableOptions) (columns, error) {
	c := columns{time: -1, label: -1, entity: -1}
	seen := map[string]bool{}
	for j, h := range header {
		switch {
		case strings.TrimSpace(h) == "":
			return c, fmt.Errorf("column %d: empty header name", j+1)
		case seen[h]:
			return c, fmt.Errorf("column %d: duplicate header %q", j+1, h)
		}
		seen[h] = true
		switch {
		case h == opt.TimeColumn:
			c.time = j
		case opt.LabelColumn != "" && h == opt.LabelColumn:
			c.label = j
		case opt.EntityColumn != "" && h == opt.EntityColumn:
			c.entity = j
		case slices.Contains(opt.Ignore, h):
		default:
			c.metrics = append(c.metrics, j)
		}
	}
	if c.time < 0 {
		return c, fmt.Errorf("header lacks the time column %q", opt.TimeColumn)
	}
	if len(c.metrics) == 0 {
		return c, errors.New("header has no metric columns")
	}
	return c, nil
}

func parseTime(s, layout string) (int64, error) {
	s = strings.TrimSpace(s)
	if layout == "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("timestamp %q is not a number of Unix seconds", s)
		}
		return int64(math.Floor(v)), nil
	}
	if len(s) < len(layout) {
		return 0, fmt.Errorf("timestamp %q does not match layout %q", s, layout)
	}
	t, err := time.ParseInLocation(layout, s[:len(layout)], time.UTC)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q does not match layout %q", s, layout)
	}
	return t.Unix(), nil
}

func parseCell(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "nan") {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) {
			return v, nil // ±Inf or denormal underflow: kept, the feature builder reports it
		}
		return 0, fmt.Errorf("value %q is not a number", s)
	}
	return v, nil
}
