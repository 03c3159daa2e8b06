package contracts

import (
	"strings"
	"testing"
)

// The recent-attestation index sorts a later period first, in plain
// string order, and refuses starts it cannot place.
func TestNewestFirstSortsLaterPeriodsFirst(t *testing.T) {
	starts := []string{"2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-02T03:00:00Z", "2027-01-01T00:00:00Z"}
	var prev string
	for i, s := range starts {
		k, err := newestFirst(s)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && strings.Compare(k, prev) >= 0 {
			t.Errorf("%s sorts at %s, not before the earlier period's %s", s, k, prev)
		}
		prev = k
	}
	for _, bad := range []string{"1969-12-31T23:59:59Z", "not a time"} {
		if _, err := newestFirst(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
