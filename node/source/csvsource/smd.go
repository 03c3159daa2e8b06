package csvsource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/node/source"
)

// SMD layout: machine-X-Y.train.csv[.gz] and machine-X-Y.test.csv[.gz] with
// a Unix-seconds "timestamp" column, an "anomaly" 0/1 column in the test
// file, and interpretation/machine-X-Y.txt lines "start-end:d1,d2,..." of
// 0-based, half-open test-row ranges and 1-based metric numbers.
const (
	SMDStep = time.Minute
	// IncidentAnomaly names incidents from the test file's label column.
	IncidentAnomaly = "anomaly"
	// IncidentInterpretation names incidents from interpretation files;
	// their Metrics are the ground-truth metrics.
	IncidentInterpretation = "interpretation"
)

var (
	smdFile    = regexp.MustCompile(`^(machine-(\d+)-(\d+))\.(train|test)\.csv(\.gz)?$`)
	smdMachine = regexp.MustCompile(`^machine-(\d+)-\d+$`)
)

// SMDGroup returns the machine group X of an SMD service "machine-X-Y".
func SMDGroup(service string) (string, bool) {
	m := smdMachine.FindStringSubmatch(service)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// SMD is a Source over an SMD-format folder plus where each machine's
// labelled test half starts.
type SMD struct {
	*Source
	testStart map[string]time.Time
}

// TestStart is the time of a machine's first labelled (test) row.
func (s *SMD) TestStart(service string) (time.Time, error) {
	t, ok := s.testStart[service]
	if !ok {
		return time.Time{}, fmt.Errorf("csvsource: %w: %q", source.ErrUnknownService, service)
	}
	return t, nil
}

// OpenSMD reads every machine of an SMD-format folder. A machine needs a
// test file; the train file and interpretation are optional.
func OpenSMD(ctx context.Context, dir string) (*SMD, error) {
	fsys := os.DirFS(dir)
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("smd: %w", err)
	}
	files := map[string]map[string]string{} // machine -> split -> file
	for _, e := range entries {
		m := smdFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if files[m[1]] == nil {
			files[m[1]] = map[string]string{}
		}
		files[m[1]][m[4]] = e.Name()
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("smd: no machine-X-Y.{train,test}.csv[.gz] files in %s", dir)
	}
	machines := make([]string, 0, len(files))
	for m := range files {
		machines = append(machines, m)
	}
	slices.Sort(machines)
	out := &SMD{testStart: map[string]time.Time{}}
	var services []*Service
	for _, machine := range machines {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		svc, testStart, err := readMachine(fsys, machine, files[machine])
		if err != nil {
			return nil, fmt.Errorf("smd: %s: %w", machine, err)
		}
		services = append(services, svc)
		out.testStart[machine] = testStart
	}
	if out.Source, err = New(services...); err != nil {
		return nil, fmt.Errorf("smd: %w", err)
	}
	return out, nil
}

func readTableFile(fsys fs.FS, name string, opt TableOptions) (*Table, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTable(f, name, opt)
}

func readMachine(fsys fs.FS, machine string, files map[string]string) (*Service, time.Time, error) {
	if files["test"] == "" {
		return nil, time.Time{}, errors.New("no test file")
	}
	test, err := readTableFile(fsys, files["test"], TableOptions{TimeColumn: "timestamp", LabelColumn: "anomaly"})
	if err != nil {
		return nil, time.Time{}, err
	}
	if test.Labels == nil {
		return nil, time.Time{}, fmt.Errorf("%s: no anomaly column", files["test"])
	}
	all := test
	if files["train"] != "" {
		train, err := readTableFile(fsys, files["train"], TableOptions{TimeColumn: "timestamp"})
		if err != nil {
			return nil, time.Time{}, err
		}
		if !slices.Equal(train.Metrics, test.Metrics) {
			return nil, time.Time{}, errors.New("train and test files have different metric columns")
		}
		all = &Table{Metrics: test.Metrics, Times: slices.Concat(train.Times, test.Times)}
		for j := range test.Metrics {
			all.Values = append(all.Values, slices.Concat(train.Values[j], test.Values[j]))
		}
	}
	svc := &Service{
		Name:      machine,
		Series:    seriesFromTable(machine, all, source.TypeUnknown, nil),
		Incidents: labelIncidents(machine, IncidentAnomaly, test.Times, test.Labels, SMDStep),
	}
	interp, err := readInterpretation(fsys, machine, test)
	if err != nil {
		return nil, time.Time{}, err
	}
	svc.Incidents = append(svc.Incidents, interp...)
	slices.SortStableFunc(svc.Incidents, func(a, b source.Incident) int { return a.Start.Compare(b.Start) })
	return svc, time.Unix(test.Times[0], 0).UTC(), nil
}

// readInterpretation parses interpretation/<machine>.txt if it exists.
func readInterpretation(fsys fs.FS, machine string, test *Table) ([]source.Incident, error) {
	name := path.Join("interpretation", machine+".txt")
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rowTime := func(row int) time.Time {
		if row < len(test.Times) {
			return time.Unix(test.Times[row], 0).UTC()
		}
		return time.Unix(test.Times[len(test.Times)-1], 0).UTC().Add(SMDStep * time.Duration(row-len(test.Times)+1))
	}
	var out []source.Incident
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		start, end, metrics, err := parseInterpretation(text, len(test.Metrics))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if end > len(test.Times) {
			return nil, fmt.Errorf("%s:%d: interval ends at row %d beyond the %d test rows", name, line, end, len(test.Times))
		}
		ids := make([]string, len(metrics))
		for i, d := range metrics {
			ids[i] = test.Metrics[d-1]
		}
		out = append(out, source.Incident{
			Service: machine, Name: IncidentInterpretation,
			Start: rowTime(start), End: rowTime(end), Metrics: ids,
			Labels: map[string]string{"rows": fmt.Sprintf("%d-%d", start, end)},
		})
	}
	return out, sc.Err()
}

// parseInterpretation reads "start-end:d1,d2,...", returning the half-open
// row range [start, end) and 1-based metric numbers.
func parseInterpretation(s string, metrics int) (start, end int, dims []int, err error) {
	rng, list, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, nil, fmt.Errorf("%q lacks ':'", s)
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, nil, fmt.Errorf("range %q lacks '-'", rng)
	}
	if start, err = strconv.Atoi(a); err != nil {
		return 0, 0, nil, fmt.Errorf("range start %q: not an integer", a)
	}
	if end, err = strconv.Atoi(b); err != nil {
		return 0, 0, nil, fmt.Errorf("range end %q: not an integer", b)
	}
	if start < 0 || end <= start {
		return 0, 0, nil, fmt.Errorf("range %q is empty or negative", rng)
	}
	for _, f := range strings.Split(list, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 1 || d > metrics {
			return 0, 0, nil, fmt.Errorf("metric number %q outside 1..%d", f, metrics)
		}
		if !slices.Contains(dims, d) {
			dims = append(dims, d)
		}
	}
	return start, end, dims, nil
}
