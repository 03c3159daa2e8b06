package csvsource

import (
	"bytes"
	"compress/gzip"
	"math"
	"slices"
	"strings"
	"testing"
)

var smdOptions = TableOptions{TimeColumn: "timestamp", LabelColumn: "anomaly"}

func TestReadTable(t *testing.T) {
	in := "timestamp,anomaly,m01,m02\n100,0,1.5,\n160,1,NaN,2e3\n"
	tab, err := ReadTable(strings.NewReader(in), "x.csv", smdOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tab.Metrics, []string{"m01", "m02"}) || !slices.Equal(tab.Times, []int64{100, 160}) || !slices.Equal(tab.Labels, []float64{0, 1}) {
		t.Fatalf("table %+v", tab)
	}
	if tab.Values[0][0] != 1.5 || !math.IsNaN(tab.Values[1][0]) || !math.IsNaN(tab.Values[0][1]) || tab.Values[1][1] != 2000 {
		t.Fatalf("values %v", tab.Values)
	}
}

func TestReadTableGzipAndTextTimes(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("Time,TimeStamp,PodName,Cpu\n2022-08-22 03:51:19.607 +0000 UTC m=+0.1,1861140279,pod-a,1\n"))
	zw.Close()
	tab, err := ReadTable(&buf, "p.csv.gz", TableOptions{TimeColumn: "Time", TimeLayout: nezhaTimeLayout, EntityColumn: "PodName", Ignore: []string{"TimeStamp"}})
	if err != nil {
		t.Fatal(err)
	}
	// The text time wins over the (offset) TimeStamp column.
	if tab.Times[0] != 1661140279 || !slices.Equal(tab.Entities, []string{"pod-a"}) || !slices.Equal(tab.Metrics, []string{"Cpu"}) {
		t.Fatalf("table %+v", tab)
	}
}

func TestReadTableErrorsNameLineAndColumn(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty file", "", "empty file"},
		{"no time column", "ts,m01\n1,2\n", `lacks the time column "timestamp"`},
		{"duplicate header", "timestamp,m01,m01\n1,2,3\n", `duplicate header "m01"`},
		{"empty header name", "timestamp,,m02\n1,2,3\n", "empty header name"},
		{"no metric columns", "timestamp,anomaly\n1,0\n", "no metric columns"},
		{"non-numeric cell", "timestamp,anomaly,m01,m02\n1,0,2,3\n2,0,4,high\n", `x.csv:3: column "m02": value "high" is not a number`},
		{"bad timestamp", "timestamp,anomaly,m01\nnoon,0,1\n", `x.csv:2: column "timestamp"`},
		{"bad label", "timestamp,anomaly,m01\n1,2,1\n", `x.csv:2: column "anomaly": label "2"`},
		{"ragged row", "timestamp,anomaly,m01\n1,0\n", "wrong number of fields"},
		{"header only", "timestamp,anomaly,m01\n", "no data rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadTable(strings.NewReader(tt.in), "x.csv", smdOptions)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzReadTable checks that arbitrary input never panics and that accepted
// tables are rectangular.
func FuzzReadTable(f *testing.F) {
	f.Add("timestamp,anomaly,m01\n1,0,2\n")
	f.Add("timestamp,m01,m02\n1,,NaN\n2,1e400,-0\n")
	f.Add("timestamp\n")
	f.Fuzz(func(t *testing.T, in string) {
		tab, err := ReadTable(strings.NewReader(in), "f.csv", smdOptions)
		if err != nil {
			return
		}
		for _, col := range tab.Values {
			if len(col) != len(tab.Times) {
				t.Fatalf("column of %d values for %d times", len(col), len(tab.Times))
			}
		}
		if tab.Labels != nil && len(tab.Labels) != len(tab.Times) {
			t.Fatal("labels and times differ in length")
		}
	})
}
