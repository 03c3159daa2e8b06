package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTP evaluates PromQL on a Prometheus-compatible server (Prometheus,
// Mimir, Thanos) through its query_range API.
type HTTP struct {
	// Address is the server's base URL, e.g. "http://127.0.0.1:9090"
	// (Mimir: ".../prometheus").
	Address string
	Client  *http.Client
}

// RangeQuery implements Evaluator.
func (h HTTP) RangeQuery(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Point, error) {
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', -1, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', -1, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(h.Address, "/")+"/api/v1/query_range",
		strings.NewReader(q.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query_range: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("query_range: %w", err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query_range: HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query_range: HTTP %d: %s", resp.StatusCode, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("query_range returned a %s, want a matrix", r.Data.ResultType)
	}
	if len(r.Data.Result) > 1 {
		return nil, fmt.Errorf("query returned %d series, want one", len(r.Data.Result))
	}
	var out []Point
	for _, s := range r.Data.Result {
		for _, pair := range s.Values {
			ts, ok1 := pair[0].(float64)
			vs, ok2 := pair[1].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("query_range: malformed sample %v", pair)
			}
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, fmt.Errorf("query_range: sample value %q: %w", vs, err)
			}
			out = append(out, Point{T: time.UnixMilli(int64(ts * 1000)).UTC(), V: v})
		}
	}
	return out, nil
}
