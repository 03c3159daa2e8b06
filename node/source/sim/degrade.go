package sim

import (
	"fmt"
	"math"
	"time"
)

// Degradation is a lasting shift of one service from Start on: a release
// that fails more often or answers more slowly, for good. It is not a
// fault: no incident names it (the service's normal has changed; nothing
// is to be repaired and no page is owed), so it never appears in
// Incidents. It is what makes an SLO fitted before it chronically breached
// after it, the case the SLO lifecycle's revisions answer.
type Degradation struct {
	Service string
	Start   time.Time
	// ErrorFactor multiplies the failure probability of the service's
	// procedures and server errors (1 or 0: unchanged).
	ErrorFactor float64
	// AddedLatency is added to each request the service answers; callers
	// serving through it wait half of it, as for network latency.
	AddedLatency time.Duration
}

// MaxErrorFactor bounds Degradation.ErrorFactor: beyond it most
// procedures would fail, which is an outage, not a degradation.
const MaxErrorFactor = 1000

// MaxAddedLatency bounds Degradation.AddedLatency (the simulated request
// timeout is of that order).
const MaxAddedLatency = 10 * time.Second

func (d Degradation) validate(services map[string]bool) error {
	switch {
	case !services[d.Service]:
		return fmt.Errorf("degradation of service %q, which does not run", d.Service)
	case d.Start.IsZero():
		return fmt.Errorf("degradation of %s: start is not set", d.Service)
	case !(d.ErrorFactor == 0 || (d.ErrorFactor >= 1 && d.ErrorFactor <= MaxErrorFactor)):
		return fmt.Errorf("degradation of %s: error factor %v is outside [1, %d]", d.Service, d.ErrorFactor, MaxErrorFactor)
	case d.AddedLatency < 0 || d.AddedLatency > MaxAddedLatency:
		return fmt.Errorf("degradation of %s: added latency %v is outside [0, %v]", d.Service, d.AddedLatency, MaxAddedLatency)
	case d.ErrorFactor <= 1 && d.AddedLatency == 0:
		return fmt.Errorf("degradation of %s changes nothing: set an error factor above 1 or an added latency", d.Service)
	}
	return nil
}

// applyDegradations adds the shifts in effect at t to the conditions.
func applyDegradations(ds []Degradation, t time.Time, conds map[string]*conditions) {
	for _, d := range ds {
		c, ok := conds[d.Service]
		if !ok || t.Before(d.Start) {
			continue
		}
		c.errFactor *= math.Max(1, d.ErrorFactor)
		c.delay += d.AddedLatency.Seconds()
	}
}
