package sim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/srellama/srellama/node/source"
)

// WriteOpenMetrics writes fetched series as OpenMetrics text with a
// timestamp on every sample, the input of `promtool tsdb
// create-blocks-from openmetrics` for backfilling a Prometheus with
// simulated history. NaN values (gaps) are left out. Samples carry no TYPE
// metadata: Open5GS counters lack the _total suffix OpenMetrics requires of
// counters, and the TSDB does not keep metadata anyway.
func WriteOpenMetrics(w io.Writer, series []source.Series) error {
	order := make([]int, len(series))
	for i := range order {
		order[i] = i
	}
	// A metric family's samples must not be interleaved with another's.
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(series[a].Info.Metric, series[b].Info.Metric) })
	bw := bufio.NewWriterSize(w, 1<<16)
	for _, i := range order {
		s := series[i]
		name := openMetricsName(s.Info.Metric, s.Info.Labels)
		for j, v := range s.Values {
			if math.IsNaN(v) {
				continue
			}
			ts := s.Start.Add(time.Duration(j) * s.Step)
			bw.WriteString(name)
			bw.WriteByte(' ')
			bw.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			bw.WriteByte(' ')
			bw.WriteString(strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', -1, 64))
			bw.WriteByte('\n')
		}
	}
	bw.WriteString("# EOF\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sim: write openmetrics: %w", err)
	}
	return nil
}

func openMetricsName(metric string, labels map[string]string) string {
	if len(labels) == 0 {
		return metric
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(labels[n]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
