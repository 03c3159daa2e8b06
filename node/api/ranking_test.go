package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/api"
)

// finalizedRound holds one finalized round; the ranking reads nothing else.
type finalizedRound struct {
	api.Ledger
	round records.Round
}

func (f finalizedRound) Round(_ context.Context, id string) (records.Round, error) {
	if id != f.round.ID {
		return records.Round{}, fmt.Errorf("round %s not found", id)
	}
	return f.round, nil
}

func TestRankingSaysLearnedOrDeviationFallback(t *testing.T) {
	r := records.Round{Status: records.RoundFinalized, GlobalModelDigest: nft.DigestBytes([]byte("m")),
		Ranking: []records.ServiceRanking{
			{Service: "amf", Basis: records.RankingLearned, Metrics: []nft.Metric{{Name: "up", Relevance: 0.7, Stability: 1}}},
			{Service: "smf", Basis: records.RankingDeviationFallback, Reason: "relevance policy is deviation",
				Metrics: []nft.Metric{{Name: "a_total"}, {Name: "b_total"}}},
		}}
	r.ID = "round-7"
	h := (&api.Server{Organization: "Org1MSP", Ledger: finalizedRound{round: r}}).Handler()
	status, body := get(t, h, "/api/v1/rounds/round-7/ranking")
	if status != http.StatusOK {
		t.Fatalf("GET ranking = %d %s", status, body)
	}
	var got struct {
		Ranking []records.ServiceRanking `json:"ranking"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"amf": {records.RankingLearned, ""},
		"smf": {records.RankingDeviationFallback, "relevance policy is deviation"},
	}
	if len(got.Ranking) != len(want) {
		t.Fatalf("ranking %s", body)
	}
	for _, sr := range got.Ranking {
		if w := want[sr.Service]; sr.Basis != w[0] || sr.Reason != w[1] {
			t.Fatalf("service %s: basis %q reason %q, want %q %q (body %s)", sr.Service, sr.Basis, sr.Reason, w[0], w[1], body)
		}
	}
}
