package csvsource

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"
)

// A file far longer than the history asked for is read in bounded memory:
// only its last MaxRows rows are kept, and no column ever holds more than
// twice that.
func TestReadTableKeepsTheLastRows(t *testing.T) {
	const rows, cols, keep = 20_000, 20, 1440
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	header := []string{"timestamp"}
	for j := range cols {
		header = append(header, fmt.Sprintf("m%02d", j))
	}
	fmt.Fprintln(zw, strings.Join(header, ","))
	for i := range rows {
		fmt.Fprintf(zw, "%d%s\n", 60*i, strings.Repeat(fmt.Sprintf(",%d", i), cols))
	}
	zw.Close()
	tab, err := ReadTable(&buf, "long.csv.gz", TableOptions{TimeColumn: "timestamp", MaxRows: keep})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Times) != keep || tab.Times[0] != 60*(rows-keep) || tab.Values[cols-1][keep-1] != rows-1 {
		t.Fatalf("kept %d rows from t=%d, last value %v", len(tab.Times), tab.Times[0], tab.Values[cols-1][keep-1])
	}
	for j, v := range tab.Values {
		if cap(v) > 2*keep+keep/2 {
			t.Fatalf("column %d grew to %d values for %d kept", j, cap(v), keep)
		}
	}
}
