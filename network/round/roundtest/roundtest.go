// Package roundtest holds fakes for testing code that drives the round
// protocol.
package roundtest

import (
	"slices"
	"strings"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/network/round"
	"github.com/srellama/srellama/nft"
)

// Aggregate is a stand-in for fl's aggregators: it hashes the sorted update
// digests, so it is order-independent and the same on every member, and
// ranks one metric for the round's first service.
func Aggregate(r records.Round, updates []round.Update) (records.AggregateClaim, error) {
	var digests, contributors []string
	for _, u := range updates {
		digests = append(digests, u.Digest)
		contributors = append(contributors, u.MSPID)
	}
	slices.Sort(digests)
	return records.AggregateClaim{
		Digest:       nft.DigestBytes([]byte(strings.Join(digests, ","))),
		Contributors: contributors,
		Ranking: []records.ServiceRanking{{Service: r.Services[0], Metrics: []nft.Metric{
			{Name: "fivegs_amffunction_rm_reginitreq", Relevance: 0.9, Stability: 1},
		}}},
	}, nil
}
