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
	// smdFile accepts any machine name: machine-X-Y in SMD itself, other
	// names in other datasets of the same layout.
	smdFile    = regexp.MustCompile(`^(.+)\.(train|test)\.csv(\.gz)?$`)
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
// labelled test half starts and its sampling step.
type SMD struct {
	*Source
	testStart map[string]time.Time
	step      map[string]time.Duration
}

// Interval-end conventions of interpretation files.
const (
	// EndsAuto compares the intervals with the anomaly column and takes
	// the reading that matches more rows.
	EndsAuto = "auto"
	// EndsExclusive reads start-end as rows start..end-1 (SMD's own).
	EndsExclusive = "exclusive"
	// EndsInclusive reads start-end as rows start..end.
	EndsInclusive = "inclusive"
)

// SMDOptions tune OpenSMDWith.
type SMDOptions struct {
	// IntervalEnds is EndsAuto (default), EndsExclusive or EndsInclusive.
	IntervalEnds string
}

// Step is a machine's sampling step, the most common difference between
// consecutive timestamps of its test file.
func (s *SMD) Step(service string) (time.Duration, error) {
	st, ok := s.step[service]
	if !ok {
		return 0, fmt.Errorf("csvsource: %w: %q", source.ErrUnknownService, service)
	}
	return st, nil
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
	return OpenSMDWith(ctx, dir, SMDOptions{})
}

// OpenSMDWith is OpenSMD with options. Machine files may have any name
// NAME.{train,test}.csv[.gz] and any regular sampling step.
func OpenSMDWith(ctx context.Context, dir string, opt SMDOptions) (*SMD, error) {
	switch opt.IntervalEnds {
	case "":
		opt.IntervalEnds = EndsAuto
	case EndsAuto, EndsExclusive, EndsInclusive:
	default:
		return nil, fmt.Errorf("smd: interval ends %q: want auto, exclusive or inclusive", opt.IntervalEnds)
	}
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
		files[m[1]][m[2]] = e.Name()
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("smd: no NAME.{train,test}.csv[.gz] files in %s", dir)
	}
	machines := make([]string, 0, len(files))
	for m := range files {
		machines = append(machines, m)
	}
	slices.Sort(machines)
	out := &SMD{testStart: map[string]time.Time{}, step: map[string]time.Duration{}}
	var services []*Service
	for _, machine := range machines {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		svc, testStart, step, err := readMachine(fsys, machine, files[machine], opt)
		if err != nil {
			return nil, fmt.Errorf("smd: %s: %w", machine, err)
		}
		services = append(services, svc)
		out.testStart[machine], out.step[machine] = testStart, step
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

func readMachine(fsys fs.FS, machine string, files map[string]string, opt SMDOptions) (*Service, time.Time, time.Duration, error) {
	fail := func(err error) (*Service, time.Time, time.Duration, error) { return nil, time.Time{}, 0, err }
	if files["test"] == "" {
		return fail(errors.New("no test file"))
	}
	test, err := readTableFile(fsys, files["test"], TableOptions{TimeColumn: "timestamp", LabelColumn: "anomaly"})
	if err != nil {
		return fail(err)
	}
	if test.Labels == nil {
		return fail(fmt.Errorf("%s: no anomaly column", files["test"]))
	}
	step, err := samplingStep(test.Times)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", files["test"], err))
	}
	all := test
	if files["train"] != "" {
		train, err := readTableFile(fsys, files["train"], TableOptions{TimeColumn: "timestamp"})
		if err != nil {
			return fail(err)
		}
		if !slices.Equal(train.Metrics, test.Metrics) {
			return fail(fmt.Errorf("%s and %s have different metric columns", files["train"], files["test"]))
		}
		all = &Table{Metrics: test.Metrics, Times: slices.Concat(train.Times, test.Times)}
		for j := range test.Metrics {
			all.Values = append(all.Values, slices.Concat(train.Values[j], test.Values[j]))
		}
	}
	svc := &Service{
		Name:      machine,
		Series:    seriesFromTable(machine, all, source.TypeUnknown, nil),
		Incidents: labelIncidents(machine, IncidentAnomaly, test.Times, test.Labels, step),
	}
	interp, err := readInterpretation(fsys, machine, test, step, opt.IntervalEnds)
	if err != nil {
		return fail(err)
	}
	svc.Incidents = append(svc.Incidents, interp...)
	slices.SortStableFunc(svc.Incidents, func(a, b source.Incident) int { return a.Start.Compare(b.Start) })
	return svc, time.Unix(test.Times[0], 0).UTC(), step, nil
}

// samplingStep is the most common positive difference between
// consecutive timestamps (ties: the smaller).
func samplingStep(times []int64) (time.Duration, error) {
	count := map[int64]int{}
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > 0 {
			count[d]++
		}
	}
	var best int64
	for d, n := range count {
		if n > count[best] || (n == count[best] && d < best) {
			best = d
		}
	}
	if best == 0 {
		return 0, errors.New("fewer than two distinct timestamps: no sampling step")
	}
	return time.Duration(best) * time.Second, nil
}

// readInterpretation parses interpretation/<machine>.txt if it exists.
func readInterpretation(fsys fs.FS, machine string, test *Table, step time.Duration, ends string) ([]source.Incident, error) {
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
		return time.Unix(test.Times[len(test.Times)-1], 0).UTC().Add(step * time.Duration(row-len(test.Times)+1))
	}
	type interval struct {
		start, end int
		ids        []string
	}
	var read []interval
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
		read = append(read, interval{start, end, ids})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	inclusive := ends == EndsInclusive
	if ends == EndsAuto {
		var asRead, plusOne int
		for _, in := range read {
			asRead += matchesLabels(test.Labels, in.start, in.end)
			plusOne += matchesLabels(test.Labels, in.start, in.end+1)
		}
		inclusive = plusOne > asRead
	}
	var out []source.Incident
	for _, in := range read {
		end := in.end
		if inclusive {
			end = min(end+1, len(test.Times))
		}
		out = append(out, source.Incident{
			Service: machine, Name: IncidentInterpretation,
			Start: rowTime(in.start), End: rowTime(end), Metrics: in.ids,
			Labels: map[string]string{"rows": fmt.Sprintf("%d-%d", in.start, end)},
		})
	}
	return out, nil
}

// matchesLabels is 1 when rows [start, end) are exactly one run of the
// anomaly column: labelled 1 inside, 0 (or the edge) just outside.
func matchesLabels(labels []float64, start, end int) int {
	if end > len(labels) {
		return 0
	}
	for _, l := range labels[start:end] {
		if l != 1 {
			return 0
		}
	}
	if (start > 0 && labels[start-1] == 1) || (end < len(labels) && labels[end] == 1) {
		return 0
	}
	return 1
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
