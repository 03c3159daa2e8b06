package csvsource

import (
	"compress/gzip"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

func writeFile(t *testing.T, path, content string, gz bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if gz {
		zw := gzip.NewWriter(f)
		zw.Write([]byte(content))
		zw.Close()
		return
	}
	f.WriteString(content)
}

// smdFixture is a two-machine SMD folder: 3 train rows, 5 test rows, an
// anomaly on test rows 1..2 and an interpretation "1-3:2".
func smdFixture(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "machine-1-1.train.csv.gz"), "timestamp,m01,m02\n0,1,10\n60,2,20\n120,3,30\n", true)
	writeFile(t, filepath.Join(dir, "machine-1-1.test.csv.gz"), "timestamp,anomaly,m01,m02\n180,0,4,40\n240,1,5,50\n300,1,6,60\n360,0,7,70\n420,0,8,80\n", true)
	writeFile(t, filepath.Join(dir, "interpretation", "machine-1-1.txt"), "1-3:2\n", false)
	writeFile(t, filepath.Join(dir, "machine-2-1.test.csv"), "timestamp,anomaly,m01,m02\n0,0,1,1\n60,1,1,1\n", false)
	return dir
}

func TestOpenSMD(t *testing.T) {
	ctx := context.Background()
	src, err := OpenSMD(ctx, smdFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	services, _ := src.Services(ctx)
	if !slices.Equal(services, []string{"machine-1-1", "machine-2-1"}) {
		t.Fatalf("services %v", services)
	}
	if g, ok := SMDGroup("machine-2-1"); !ok || g != "2" {
		t.Fatalf("group %q", g)
	}
	infos, err := src.ListSeries(ctx, "machine-1-1")
	if err != nil || len(infos) != 2 || infos[1].ID != "machine-1-1/m02" {
		t.Fatalf("series %+v (%v)", infos, err)
	}
	r := source.Range{Start: time.Unix(0, 0), End: time.Unix(420, 0), Step: time.Minute}
	got, err := src.Fetch(ctx, []string{"machine-1-1/m01"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got[0].Values, want) {
		t.Fatalf("train and test rows not joined: %v", got[0].Values)
	}
	ts, _ := src.TestStart("machine-1-1")
	if ts.Unix() != 180 {
		t.Fatalf("test start %v", ts)
	}
	in, err := src.Incidents(ctx, "machine-1-1", time.Unix(0, 0), time.Unix(480, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 {
		t.Fatalf("incidents %+v", in)
	}
	for _, i := range in {
		// Both read as half-open row ranges: rows 1..2 of the test file.
		if i.Start.Unix() != 240 || i.End.Unix() != 360 {
			t.Errorf("%s incident [%v, %v), want [240, 360)", i.Name, i.Start.Unix(), i.End.Unix())
		}
		if i.Name == IncidentInterpretation && !slices.Equal(i.Metrics, []string{"m02"}) {
			t.Errorf("interpretation metrics %v", i.Metrics)
		}
	}
}

func TestSourceBadInput(t *testing.T) {
	ctx := context.Background()
	src, err := OpenSMD(ctx, smdFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ListSeries(ctx, "machine-9-9"); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := src.Incidents(ctx, "nope", time.Unix(0, 0), time.Unix(1, 0)); !errors.Is(err, source.ErrUnknownService) {
		t.Errorf("unknown service incidents: %v", err)
	}
	empty := source.Range{Start: time.Unix(60, 0), End: time.Unix(60, 0), Step: time.Minute}
	if _, err := src.Fetch(ctx, []string{"machine-1-1/m01"}, empty); err == nil || !strings.Contains(err.Error(), "empty range") {
		t.Errorf("empty range: %v", err)
	}
	if _, err := src.Fetch(ctx, []string{"machine-1-1/m99"}, source.Range{Start: time.Unix(1, 0), End: time.Unix(120, 0), Step: time.Minute}); err == nil {
		t.Error("unknown series fetched")
	}
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "machine-1-1.test.csv"), "timestamp,anomaly,m01\n0,0,1\n60,0,x\n", false)
	if _, err := OpenSMD(ctx, bad); err == nil || !strings.Contains(err.Error(), `machine-1-1.test.csv:3: column "m01"`) {
		t.Errorf("bad cell: %v", err)
	}
	writeFile(t, filepath.Join(bad, "machine-1-1.test.csv"), "timestamp,anomaly,m01\n0,0,1\n60,0,2\n", false)
	writeFile(t, filepath.Join(bad, "interpretation", "machine-1-1.txt"), "1-9:1\n", false)
	if _, err := OpenSMD(ctx, bad); err == nil || !strings.Contains(err.Error(), "beyond the 2 test rows") {
		t.Errorf("interpretation out of range: %v", err)
	}
	if _, err := OpenSMD(ctx, t.TempDir()); err == nil {
		t.Error("empty folder accepted")
	}
}

func TestFetchAlignsLikePrometheus(t *testing.T) {
	ser := Series{Info: source.SeriesInfo{ID: "s/m"}, Times: []int64{19, 79, 139, 259}, Values: []float64{1, 2, 3, 5}}
	src, err := New(&Service{Name: "s", Series: []Series{ser}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.Fetch(context.Background(), []string{"s/m"}, source.Range{Start: time.Unix(60, 0), End: time.Unix(300, 0), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Grid 60..300: latest sample in (g-60, g]: 19, 79, 139, none, 259.
	want := []float64{1, 2, 3, math.NaN(), 5}
	if !slices.EqualFunc(got[0].Values, want, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }) {
		t.Fatalf("aligned %v, want %v", got[0].Values, want)
	}
}

func TestOpenNezhaFixture(t *testing.T) {
	dir := t.TempDir()
	header := "Time,TimeStamp,PodName,CpuUsageRate(%),MemoryUsage(Mi)\n"
	writeFile(t, filepath.Join(dir, "metric", "cartservice-579f59597d-wc2lz_metric.csv"),
		header+"2022-08-22 03:51:19.6 +0000 UTC m=+0.1,1861140279,cartservice-579f59597d-wc2lz,1,100\n"+
			"2022-08-22 03:52:19.6 +0000 UTC m=+60.1,1861140339,cartservice-579f59597d-wc2lz,90,100\n", false)
	writeFile(t, filepath.Join(dir, "metric", "front_service.csv"), "Time,TimeStamp,ServiceName,SuccessRate(%)\n2022-08-22 03:51:19.5 +0000 UTC m=+0.1,1661140279,Frontend,100\n", false)
	writeFile(t, filepath.Join(dir, "metric", "dependency.csv"), "Source,Target,Weight\na,b,1\n", false)
	writeFile(t, filepath.Join(dir, "2022-08-22-fault_list.json"), `{"03":[{"inject_time":"2022-08-22 03:52:00","inject_timestamp":"1661140260","inject_pod":"cartservice-579f59597d-wc2lz","inject_type":"cpu_contention"}]}`, false)
	ctx := context.Background()
	src, err := OpenNezha(ctx, dir, NezhaOptions{RootCauses: map[string]map[string]string{"cartservice": {"cpu_contention": "CpuUsageRate(%)"}}})
	if err != nil {
		t.Fatal(err)
	}
	services, _ := src.Services(ctx)
	if !slices.Equal(services, []string{"cartservice", NezhaFrontService}) {
		t.Fatalf("services %v", services)
	}
	first, _, _ := src.Span("cartservice")
	if first.Unix() != 1661140279 {
		t.Fatalf("times come from TimeStamp (offset) instead of Time: %v", first.Unix())
	}
	in, err := src.Incidents(ctx, "cartservice", first, first.Add(time.Hour))
	if err != nil || len(in) != 1 {
		t.Fatalf("incidents %+v (%v)", in, err)
	}
	if in[0].Start.Unix() != 1661140320 || in[0].End.Sub(in[0].Start) != 5*time.Minute || !slices.Equal(in[0].Metrics, []string{"CpuUsageRate(%)"}) {
		t.Fatalf("incident %+v", in[0])
	}
	writeFile(t, filepath.Join(dir, "2022-08-22-fault_list.json"), `{"03":[{"inject_time":"2022-08-22 03:52:00","inject_pod":"ghost-1-2","inject_type":"return"}]}`, false)
	if _, err := OpenNezha(ctx, dir, NezhaOptions{}); err == nil || !strings.Contains(err.Error(), "unknown service ghost") {
		t.Fatalf("fault on unknown pod: %v", err)
	}
}

func TestOpenWide(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.csv.gz")
	writeFile(t, path, "ts,host,label,cpu\n120,b,0,3\n0,a,0,1\n60,a,1,2\n0,b,1,4\n", true)
	ctx := context.Background()
	src, err := OpenWide(ctx, WideFile{Path: path, Options: TableOptions{TimeColumn: "ts", LabelColumn: "label", EntityColumn: "host"}})
	if err != nil {
		t.Fatal(err)
	}
	services, _ := src.Services(ctx)
	if !slices.Equal(services, []string{"a", "b"}) {
		t.Fatalf("services %v", services)
	}
	got, err := src.Fetch(ctx, []string{"b/cpu"}, source.Range{Start: time.Unix(0, 0), End: time.Unix(120, 0), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{4, math.NaN(), 3}; !slices.EqualFunc(got[0].Values, want, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }) {
		t.Fatalf("b/cpu %v, want %v", got[0].Values, want)
	}
	in, _ := src.Incidents(ctx, "a", time.Unix(0, 0), time.Unix(600, 0))
	if len(in) != 1 || in[0].Start.Unix() != 60 || in[0].End.Unix() != 120 {
		t.Fatalf("incidents %+v", in)
	}
	writeFile(t, path, "ts,cpu\n0,1\n0,2\n", false)
	if _, err := OpenWide(ctx, WideFile{Path: path, Options: TableOptions{TimeColumn: "ts"}}); err == nil || !strings.Contains(err.Error(), "duplicate timestamp") {
		t.Fatalf("duplicate timestamps: %v", err)
	}
}
