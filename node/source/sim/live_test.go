package sim

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/srellama/srellama/node/source"
)

// scrape fetches a route and returns its status and samples keyed by the
// exposition's series text (name{labels}).
func scrape(t *testing.T, url string) (int, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	samples := map[string]float64{}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, samples
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			t.Fatalf("bad exposition line %q", line)
		}
		samples[line[:cut]] = v
	}
	return resp.StatusCode, samples
}

func TestLiveServesWhatFetchGives(t *testing.T) {
	at := origin.Add(20 * time.Hour)
	cfg := fullConfig(Fault{Kind: PodFailure, Service: UDM, Start: at, Duration: 10 * time.Minute, Intensity: 1})
	s := newSim(t, cfg)
	clock := at.Add(-time.Minute)
	srv := httptest.NewServer(NewLive(s, func() time.Time { return clock }).Handler())
	defer srv.Close()

	code, amf := scrape(t, srv.URL+"/metrics/amf")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics/amf: %d", code)
	}
	want := fetch(t, s, []string{
		`fivegs_amffunction_rm_reginitreq{service="amf"}`,
		`sbi_server_request_duration_seconds_bucket{le="0.01",service="amf"}`,
		`sbi_server_responses_total{service="amf",status="5xx"}`,
	}, source.Range{Start: clock, End: clock.Add(time.Second), Step: time.Second})
	checks := map[string]float64{
		`fivegs_amffunction_rm_reginitreq`:                      want[0].Values[0],
		`sbi_server_request_duration_seconds_bucket{le="0.01"}`: want[1].Values[0],
		`sbi_server_responses_total{status="5xx"}`:              want[2].Values[0],
	}
	for series, v := range checks {
		if got, ok := amf[series]; !ok || got != v {
			t.Errorf("live %s = %v (present %v), Fetch gives %v", series, got, ok, v)
		}
	}
	if _, ok := amf["up"]; ok {
		t.Error("live exposition exports up; Prometheus makes its own")
	}

	_, all := scrape(t, srv.URL+"/metrics")
	if got := all[`fivegs_amffunction_rm_reginitreq{service="amf"}`]; got != want[0].Values[0] {
		t.Errorf("combined route: reginitreq = %v, want %v", got, want[0].Values[0])
	}

	clock = at.Add(time.Minute) // the UDM is down now
	if code, _ := scrape(t, srv.URL+"/metrics/udm"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /metrics/udm during its pod failure: %d, want 503", code)
	}
	_, all = scrape(t, srv.URL+"/metrics")
	for series := range all {
		if strings.Contains(series, `service="udm"`) {
			t.Fatalf("combined route still shows %s while the UDM is down", series)
		}
	}
}

func TestWriteOpenMetrics(t *testing.T) {
	s := newSim(t, Config{Org: "o", Start: origin, Services: []string{AMF}})
	ser := fetch(t, s, []string{`up{service="amf"}`, `gnb{service="amf"}`}, source.Range{Start: origin.Add(-time.Minute), End: origin.Add(time.Minute), Step: time.Minute})
	var buf bytes.Buffer
	if err := WriteOpenMetrics(&buf, ser); err != nil {
		t.Fatal(err)
	}
	want := `gnb{service="amf"} 12 1772409600
gnb{service="amf"} 12 1772409660
up{service="amf"} 1 1772409600
up{service="amf"} 1 1772409660
# EOF
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := WriteOpenMetrics(failingWriter{}, ser); err == nil {
		t.Error("a failing writer gave no error")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
