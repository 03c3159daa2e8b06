package records

import "time"

// TimeWindow is how far the peers let a proposal's timestamp stray from
// their own clocks: Fabric's default peer.authentication.timewindow, which
// the embedded ledger applies too. A transaction's time is that timestamp,
// chosen by the client, so a deadline is only as firm as this window.
// Deadlines that would end something early (closing a round, expiring a
// proposal) take effect only TimeWindow after they pass, so that no
// forged timestamp can bring them forward; deadlines that end a window for
// acting (committing an update, voting, deciding) can be overrun by up to
// TimeWindow with a backdated timestamp, never by more. Nodes wait for
// deadline + TimeWindow before they close anything.
const TimeWindow = 15 * time.Minute
