package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/srellama/srellama/node/config"
	"github.com/srellama/srellama/node/source"
	"github.com/srellama/srellama/node/source/csvsource"
	"github.com/srellama/srellama/node/source/promsource"
	"github.com/srellama/srellama/node/source/sim"
)

// serveSimulator serves the simulated core's metrics live on
// source.simulator.listen, when set, for a real Prometheus to scrape: the
// same engine the node reads, so scraped series continue its history.
func (n *Node) serveSimulator() error {
	addr := n.cfg.Source.Simulator.Listen
	src, now := n.parts.Source, n.parts.Now
	if sh, ok := src.(source.Shifted); ok {
		src, now = sh.Inner, func() time.Time { return n.parts.Now().Add(sh.By) }
	}
	s, ok := src.(*sim.Simulator)
	if addr == "" || !ok {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("daemon: source.simulator.listen: %w", err)
	}
	srv := &http.Server{Handler: sim.NewLive(s, now).Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	n.log.Info("serving the simulated metrics", "addr", l.Addr().String())
	n.closers = append(n.closers, srv.Close)
	return nil
}

// openSimulator plans the organization's simulated core over the history
// the node learns from and a week ahead, so a long-running node keeps
// producing data; with source.simulator.time_shift, around the shifted
// time, read through source.Shifted.
func openSimulator(cfg config.Config, now time.Time) (source.Source, error) {
	shift := cfg.Source.Simulator.Shift()
	now = now.Add(shift)
	history := config.Duration(cfg.Source.History)
	start := now.UTC().Truncate(24 * time.Hour).Add(-history - 24*time.Hour)
	plan, err := sim.Plan(cfg.Organization, cfg.Source.Simulator.Seed, start, now.Add(7*24*time.Hour), cfg.Source.Simulator.FaultsPerDay)
	if err != nil {
		return nil, fmt.Errorf("daemon: simulator: %w", err)
	}
	plan.Degradations = degradations(cfg, plan.Services, now)
	s, err := sim.New(plan)
	if err != nil {
		return nil, fmt.Errorf("daemon: simulator: %w", err)
	}
	if shift != 0 {
		return source.Shifted{Inner: s, By: shift}, nil
	}
	return s, nil
}

func openPrometheus(cfg config.Config) (source.Source, error) {
	p := cfg.Source.Prometheus
	token, err := readSecret(p.BearerTokenFile)
	if err != nil {
		return nil, err
	}
	password, err := readSecret(p.PasswordFile)
	if err != nil {
		return nil, err
	}
	src, err := promsource.New(promsource.Config{
		URL: p.URL, BearerToken: token, Username: p.Username, Password: password, OrgID: p.TenantID,
		ServiceLabel: p.ServiceLabel, IncidentQuery: p.IncidentsQuery, Timeout: config.Duration(p.Timeout),
	})
	if err != nil {
		return nil, fmt.Errorf("daemon: prometheus source: %w", err)
	}
	return src, nil
}

// wideRows is how many of a wide file's last rows the node keeps: its
// history at its step, plus a day (evidence windows end at midnight), so a
// long file costs memory for the history asked for, not for its length.
func wideRows(cfg config.Config) int {
	history, step := config.Duration(cfg.Source.History), config.Duration(cfg.Source.Step)
	return int((history + 24*time.Hour) / step)
}

func openCSV(ctx context.Context, cfg config.Config) (source.Source, error) {
	dir := cfg.Source.CSV.Dir
	switch cfg.Source.CSV.Format {
	case "smd":
		return csvsource.OpenSMD(ctx, dir)
	case "nezha":
		return csvsource.OpenNezha(ctx, dir, csvsource.NezhaOptions{})
	case "wide":
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("daemon: CSV source: %w", err)
		}
		var files []csvsource.WideFile
		for _, e := range entries {
			name := e.Name()
			stem := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".csv")
			if e.IsDir() || stem == name {
				continue
			}
			files = append(files, csvsource.WideFile{Path: filepath.Join(dir, name), Service: stem,
				Options: csvsource.TableOptions{TimeColumn: "timestamp", LabelColumn: "anomaly", MaxRows: wideRows(cfg)}})
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("daemon: CSV source: no .csv or .csv.gz files in %s", dir)
		}
		return csvsource.OpenWide(ctx, files...)
	}
	return nil, fmt.Errorf("daemon: unknown CSV format %q", cfg.Source.CSV.Format)
}
