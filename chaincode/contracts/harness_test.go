package contracts_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"github.com/srellama/srellama/chaincode/contracts"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/chaincode/stubtest"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

var genesis = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// world is a channel with the chaincode deployed and three organizations
// holding admin and client identities from their own CAs.
type world struct {
	t      testing.TB
	ledger *stubtest.Ledger
	cc     shim.Chaincode
	org1   *stubtest.Org
	org2   *stubtest.Org
	org3   *stubtest.Org
	orgs   []*stubtest.Org
}

func newWorld(t testing.TB) *world {
	t.Helper()
	cc, err := contracts.New()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ledger: stubtest.New("consortium", genesis), cc: cc}
	for _, msp := range []string{"Org1MSP", "Org2MSP", "Org3MSP"} {
		org, err := stubtest.NewOrg(msp, genesis)
		if err != nil {
			t.Fatal(err)
		}
		w.orgs = append(w.orgs, org)
	}
	w.org1, w.org2, w.org3 = w.orgs[0], w.orgs[1], w.orgs[2]
	return w
}

// registered returns a world whose three organizations are registered.
func registered(t testing.TB) *world {
	w := newWorld(t)
	for _, org := range w.orgs {
		w.submit(org.Admin, "Consortium:RegisterOrganization", org.MSPID+" Telecom")
	}
	return w
}

func (w *world) submit(id *stubtest.Identity, fn string, args ...string) stubtest.Result {
	w.t.Helper()
	res, err := w.ledger.Submit(w.cc, id, fn, args...)
	if err != nil {
		w.t.Fatalf("%s by %s/%s: %v", fn, id.MSPID, id.Role, err)
	}
	return res
}

// refused submits a transaction that must fail with an error mentioning
// want, and checks the ledger did not change.
func (w *world) refused(id *stubtest.Identity, want string, fn string, args ...string) {
	w.t.Helper()
	before := w.ledger.StateDigest()
	events := len(w.ledger.Events())
	_, err := w.ledger.Submit(w.cc, id, fn, args...)
	if err == nil {
		w.t.Fatalf("%s by %s/%s succeeded; want an error mentioning %q", fn, id.MSPID, id.Role, want)
	}
	if !strings.Contains(err.Error(), want) {
		w.t.Fatalf("%s by %s/%s: error %q does not mention %q", fn, id.MSPID, id.Role, err, want)
	}
	if strings.Contains(err.Error(), "internal error") {
		w.t.Fatalf("%s panicked: %v", fn, err)
	}
	if w.ledger.StateDigest() != before || len(w.ledger.Events()) != events {
		w.t.Fatalf("%s failed but changed the ledger", fn)
	}
}

func (w *world) evaluate(id *stubtest.Identity, fn string, args ...string) []byte {
	w.t.Helper()
	out, err := w.ledger.Evaluate(w.cc, id, fn, args...)
	if err != nil {
		w.t.Fatalf("%s: %v", fn, err)
	}
	return out
}

func decode[T any](t testing.TB, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding %T from %s: %v", v, raw, err)
	}
	return v
}

func event(t testing.TB, res stubtest.Result, kind records.EventKind) records.Event {
	t.Helper()
	if res.Event == nil {
		t.Fatalf("tx %s emitted no event, want %s", res.TxID, kind)
	}
	if res.Event.Name != string(kind) {
		t.Fatalf("tx %s emitted %s, want %s", res.TxID, res.Event.Name, kind)
	}
	e := decode[records.Event](t, res.Event.Payload)
	if e.Kind != kind || e.TxID != res.TxID {
		t.Fatalf("event payload kind %s tx %s, want %s tx %s", e.Kind, e.TxID, kind, res.TxID)
	}
	return e
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	raw, err := nft.Canonical(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func (w *world) roundSpec(id string) records.RoundSpec {
	now := w.ledger.Now()
	return records.RoundSpec{
		ID: id, Task: "sli-relevance", Services: []string{"amf", "smf"},
		FeatureSetDigest: nft.DigestBytes([]byte("features")), Strategy: "median",
		MinParticipants: 2,
		CommitDeadline:  records.FormatTime(now.Add(10 * time.Minute)),
		Deadline:        records.FormatTime(now.Add(20 * time.Minute)),
	}
}

func commitment(seed string) records.UpdateCommitment {
	return records.UpdateCommitment{
		Digest: nft.DigestBytes([]byte(seed)), Samples: 1000,
		Metrics: records.LocalMetrics{AUC: 0.9, F1: 0.7, Loss: 0.3}, Epsilon: 0.5, EpsilonTotal: 1.5,
	}
}

func claim(contributors ...string) records.AggregateClaim {
	return records.AggregateClaim{
		Digest:       nft.DigestBytes([]byte("global-model")),
		Contributors: contributors,
		Ranking: []records.ServiceRanking{
			{Service: "amf", Metrics: []nft.Metric{
				{Name: "fivegs_amffunction_rm_reginitreq", Relevance: 0.91, Stability: 1},
				{Name: "fivegs_amffunction_rm_reginitsucc", Relevance: 0.87, Stability: 0.9},
			}},
			{Service: "smf", Metrics: []nft.Metric{{Name: "fivegs_smffunction_sm_sessionnbr", Relevance: 0.7, Stability: 0.8}}},
		},
	}
}

// finalizedRound opens round id, has every member commit, and has Org1 and
// Org2 agree on the aggregate, which finalizes it. It returns the
// finalization event.
func (w *world) finalizedRound(id string) records.Event {
	w.t.Helper()
	w.submit(w.org1.Admin, "Rounds:Open", mustJSON(w.t, w.roundSpec(id)))
	for _, org := range w.orgs {
		w.submit(org.Client, "Rounds:CommitUpdate", id, mustJSON(w.t, commitment(org.MSPID+id)))
	}
	all := claim("Org1MSP", "Org2MSP", "Org3MSP")
	w.submit(w.org1.Client, "Rounds:SubmitAggregate", id, mustJSON(w.t, all))
	res := w.submit(w.org2.Client, "Rounds:SubmitAggregate", id, mustJSON(w.t, all))
	return event(w.t, res, records.EventRoundFinalized)
}

// definitionFor answers a generation request as proposer.
func definitionFor(req records.GenerationRequest, proposer string) nft.Definition {
	d := nfttest.Definition(req.Service, proposer)
	d.Provenance.GenerationRequestID = req.ID
	d.Provenance.RoundID = req.RoundID
	d.Provenance.GlobalModelDigest = req.GlobalModelDigest
	d.Provenance.Contributors = req.Contributors
	return d
}

// mintedToken runs a round, proposes for the amf request as Org1 and has
// Org2 approve: the token is minted at the majority of three.
func (w *world) mintedToken(roundID string) nft.Token {
	w.t.Helper()
	fin := w.finalizedRound(roundID)
	req := fin.Requests[0]
	def := definitionFor(req, "Org1MSP")
	res := w.submit(w.org1.Client, "Generation:Propose", req.ID, mustJSON(w.t, def))
	prop := event(w.t, res, records.EventProposalSubmitted).Proposal
	res = w.submit(w.org2.Client, "Generation:Decide", prop.ID, backedApproval)
	return *event(w.t, res, records.EventTokenMinted).Token
}

// backedApproval is an approval with the figures a reviewer measured on
// its own data; a round's proposals need two organizations' (the
// proposer's counts).
const backedApproval = `{"verdict":"approve","figures":{"history_days":7,"achieved":0.9995,"objective":0.999}}`

func (w *world) orgByMSP(msp string) *stubtest.Org {
	for _, o := range w.orgs {
		if o.MSPID == msp {
			return o
		}
	}
	w.t.Fatalf("no org %s", msp)
	return nil
}

// peerIDOf returns a well-formed base58 peer ID for node i.
func peerIDOf(i int) string {
	return "12D3KooWPeer" + string(rune('A'+i)) + strings.Repeat("x", 40)
}
