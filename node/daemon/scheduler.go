package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/ledger"
	"github.com/srellama/srellama/node/ledger/chaincode"
)

// The scheduler opens the rounds of the consortium's schedules. Every node
// runs it: each lists the active schedules, and for each whose current
// period has no round yet calls Schedules:OpenDue. The round's ID follows
// from schedule and period, so when several nodes try at once one round
// opens and the others get a settled refusal (or an MVCC conflict, retried
// once into that refusal), which is success: the round is open.

// scheduleLedger is what the scheduler needs of the ledger; the typed
// chaincode client has it.
type scheduleLedger interface {
	Schedules(ctx context.Context, p chaincode.PageRequest) (records.Page[records.Schedule], error)
	Round(ctx context.Context, roundID string) (records.Round, error)
	OpenDueRound(ctx context.Context, scheduleID string) (chaincode.Committed[records.Round], error)
}

// dueRound is one schedule period whose round should be open.
type dueRound struct {
	ScheduleID string
	Period     int64
	RoundID    string
}

// dueRounds decides which rounds are due at now: for each active schedule
// that has started, the round of the period containing now, unless that
// round is known to exist. Pure, so a table test pins the decision.
func dueRounds(schedules []records.Schedule, known map[string]bool, now time.Time) []dueRound {
	var out []dueRound
	for _, s := range schedules {
		if s.Status != records.ScheduleActive {
			continue
		}
		k, ok := s.PeriodAt(now)
		if !ok {
			continue
		}
		id := records.ScheduledRoundID(s.ID, k)
		if known[id] {
			continue
		}
		out = append(out, dueRound{ScheduleID: s.ID, Period: k, RoundID: id})
	}
	slices.SortFunc(out, func(a, b dueRound) int { return cmp.Compare(a.RoundID, b.RoundID) })
	return out
}

// scheduler is the loop's state: the rounds it knows are open, so that a
// due period costs one read until the next period.
type scheduler struct {
	l       scheduleLedger
	now     func() time.Time
	log     *slog.Logger
	metrics *prometheus.CounterVec
	known   map[string]bool
}

func newScheduler(l scheduleLedger, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) *scheduler {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "srellama_scheduled_rounds_total",
		Help: "Scheduled rounds this node tried to open, by outcome: opened (its transaction opened the round), raced (another node opened it first: a settled refusal), failed.",
	}, []string{"outcome"})
	for _, o := range []string{"opened", "raced", "failed"} {
		m.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return &scheduler{l: l, now: now, log: log, metrics: m, known: map[string]bool{}}
}

// run checks the schedules every interval until ctx ends.
func (s *scheduler) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.check(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("checking the round schedules", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check opens the round of every due period that has none yet.
func (s *scheduler) check(ctx context.Context) error {
	schedules, err := s.active(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	candidates := dueRounds(schedules, nil, now)
	// Forget past periods: only the current ones can be due again.
	current := map[string]bool{}
	for _, c := range candidates {
		if s.known[c.RoundID] {
			current[c.RoundID] = true
		} else if _, err := s.l.Round(ctx, c.RoundID); err == nil {
			current[c.RoundID] = true
		}
	}
	s.known = current
	var failed []error
	for _, d := range dueRounds(schedules, s.known, now) {
		if err := s.open(ctx, d); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// active reads every schedule, page by page, and keeps the active ones.
func (s *scheduler) active(ctx context.Context) ([]records.Schedule, error) {
	var out []records.Schedule
	p := chaincode.PageRequest{Size: records.MaxPageSize}
	for range 1000 {
		page, err := s.l.Schedules(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("listing schedules: %w", err)
		}
		for _, sc := range page.Items {
			if sc.Status == records.ScheduleActive {
				out = append(out, sc)
			}
		}
		if page.Bookmark == "" || len(page.Items) == 0 {
			return out, nil
		}
		p.Bookmark = page.Bookmark
	}
	return nil, errors.New("listing schedules: more than 1000 pages")
}

// open opens one due round: a settled refusal means another node did.
func (s *scheduler) open(ctx context.Context, d dueRound) error {
	opened, err := s.l.OpenDueRound(ctx, d.ScheduleID)
	var invalid *ledger.InvalidTxError
	if errors.As(err, &invalid) {
		// Another node's OpenDue committed first in the same block: a
		// new proposal on the new state gets the settled refusal.
		opened, err = s.l.OpenDueRound(ctx, d.ScheduleID)
	}
	switch {
	case err == nil:
		s.known[d.RoundID] = true
		s.metrics.WithLabelValues("opened").Inc()
		s.log.Info("opened a scheduled round", "schedule", d.ScheduleID, "period", d.Period, "round", opened.Result.ID, "tx", opened.TxID)
		return nil
	case records.IsSettled(err):
		s.known[d.RoundID] = true
		s.metrics.WithLabelValues("raced").Inc()
		s.log.Debug("a scheduled round was already open", "schedule", d.ScheduleID, "period", d.Period, "round", d.RoundID)
		return nil
	}
	s.metrics.WithLabelValues("failed").Inc()
	return fmt.Errorf("opening round %s of schedule %s: %w", d.RoundID, d.ScheduleID, err)
}

// declareServices records on the ledger the services this node's source
// runs, through the registrar (admin) identity, unless the ledger already
// holds exactly them: rounds, schedules and requests naming a service no
// member runs are then refused at once.
func (n *Node) declareServices(ctx context.Context) error {
	served, err := n.parts.Source.Services(ctx)
	if err != nil {
		return fmt.Errorf("daemon: reading the source's services to declare them: %w", err)
	}
	var services []string
	for _, svc := range served {
		if nft.IsValidName(svc) {
			services = append(services, svc)
		} else {
			n.log.Warn("not declaring a service whose name the ledger does not take", "service", svc)
		}
	}
	slices.Sort(services)
	services = slices.Compact(services)
	if len(services) == 0 {
		return nil
	}
	if org, err := n.chain.GetOrganization(ctx, n.cfg.Organization); err == nil && slices.Equal(org.Services, services) {
		return nil
	}
	if _, err := n.registrar.DeclareServices(ctx, services); err != nil {
		return fmt.Errorf("daemon: declaring the services %v (needs an admin identity): %w", services, err)
	}
	n.log.Info("declared this organization's services on the ledger", "services", services)
	return nil
}

// runScheduler starts the schedule loop, every lifecycle.schedule_check.
func (n *Node) runScheduler(ctx context.Context) error {
	interval, err := nft.ParseDuration(n.cfg.Lifecycle.ScheduleCheck)
	if err != nil || interval <= 0 {
		return fmt.Errorf("daemon: lifecycle.schedule_check %q: %v", n.cfg.Lifecycle.ScheduleCheck, err)
	}
	s := newScheduler(n.chain, n.parts.Now, n.log, n.registry)
	go s.run(ctx, interval)
	return nil
}
