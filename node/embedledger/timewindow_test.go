package embedledger_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/chaincode/records"
	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/node/embedledger"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// forger is an unmodified fabric-gateway client whose proposals carry a
// timestamp of the caller's choosing: it builds a proposal as usual, moves
// its channel header's timestamp, and signs the result with the identity's
// own key, as a client with a wrong (or dishonest) clock would.
type forger struct {
	t    *testing.T
	gw   *client.Gateway
	sign identity.Sign
	cc   string
}

func newForger(t *testing.T, l *embedledger.Ledger, dir, org, who, chaincode string) *forger {
	t.Helper()
	id, sign := identityFiles(t, dir, org, who)
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := l.DialInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(); conn.Close(); cancel() })
	return &forger{t: t, gw: gw, sign: sign, cc: chaincode}
}

// submit endorses, submits and waits for a transaction dated at; it returns
// the endorsement's error, if any.
func (f *forger) submit(at time.Time, fn string, args ...string) error {
	f.t.Helper()
	contract := f.gw.GetNetwork(testChannel).GetContract(f.cc)
	p, err := contract.NewProposal(fn, client.WithArguments(args...))
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := p.Bytes()
	if err != nil {
		f.t.Fatal(err)
	}
	var ptx gateway.ProposedTransaction
	mustUnmarshal(f.t, raw, &ptx)
	var prop peer.Proposal
	mustUnmarshal(f.t, ptx.GetProposal().GetProposalBytes(), &prop)
	var hdr common.Header
	mustUnmarshal(f.t, prop.GetHeader(), &hdr)
	var ch common.ChannelHeader
	mustUnmarshal(f.t, hdr.GetChannelHeader(), &ch)
	ch.Timestamp = timestamppb.New(at)
	hdr.ChannelHeader = mustMarshal(f.t, &ch)
	prop.Header = mustMarshal(f.t, &hdr)
	propBytes := mustMarshal(f.t, &prop)
	digest := sha256.Sum256(propBytes)
	sig, err := f.sign(digest[:])
	if err != nil {
		f.t.Fatal(err)
	}
	ptx.Proposal = &peer.SignedProposal{ProposalBytes: propBytes, Signature: sig}
	forged, err := f.gw.NewSignedProposal(mustMarshal(f.t, &ptx), sig)
	if err != nil {
		f.t.Fatal(err)
	}
	tx, err := forged.Endorse()
	if err != nil {
		return err
	}
	if code := commitCode(f.t, tx); code != peer.TxValidationCode_VALID {
		f.t.Fatalf("%s dated %s: committed %s", fn, at, code)
	}
	return nil
}

func mustUnmarshal(t *testing.T, raw []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(raw, m); err != nil {
		t.Fatal(err)
	}
}

// refusedWith checks an endorsement error's gRPC code and message.
func refusedWith(t *testing.T, err error, code codes.Code, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s %q", code, want)
	}
	st, _ := status.FromError(err)
	msg := st.Message()
	for _, d := range st.Details() {
		if ed, ok := d.(*gateway.ErrorDetail); ok {
			msg += " " + ed.GetMessage()
		}
	}
	if st.Code() != code || !strings.Contains(msg, want) {
		t.Fatalf("refused with %s %q, want %s %q", st.Code(), msg, code, want)
	}
}

// The ledger refuses proposals dated further than its time window from its
// clock, either way, as a Fabric peer does; within it, the chaincode sees
// the proposal's time.
func TestProposalsOutsideTheTimeWindowAreRefused(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	f := newForger(t, l, dir, "Org1MSP", "client", kvName)
	now := time.Now()
	for _, skew := range []time.Duration{3 * time.Hour, -3 * time.Hour, embedledger.DefaultTimeWindow + time.Minute, -embedledger.DefaultTimeWindow - time.Minute} {
		err := f.submit(now.Add(skew), "put", "k", "forged")
		refusedWith(t, err, codes.InvalidArgument, "beyond the 15m0s time window")
	}
	if err := f.submit(now.Add(10*time.Minute), "put", "k", "ahead"); err != nil {
		t.Fatalf("a proposal 10 minutes ahead, within the window: %v", err)
	}
	gw := connect(t, l, "Org2MSP", "client", kvName)
	if v, err := gw.Evaluate(context.Background(), "get", "k"); err != nil || string(v) != "ahead" {
		t.Fatalf("get k = %q, %v", v, err)
	}
}

// A member cannot close another's round early, nor commit late, by dating
// its transactions: beyond the window the ledger refuses them, and within
// it the chaincode's deadlines allow for it.
func TestForgedTimestampsCannotMoveRoundDeadlines(t *testing.T) {
	dir := t.TempDir()
	l := openConsortium(t, dir)
	defer l.Close()
	ms := members(t, l)
	for _, m := range ms {
		submitJSON(t, m.admin, nil, "Consortium:RegisterOrganization", m.msp+" Telecom")
	}
	now := time.Now()
	spec := records.RoundSpec{
		ID: "round-1", Task: "sli-relevance", Services: []string{"amf"},
		FeatureSetDigest: nft.DigestBytes([]byte("features")), Strategy: "median", MinParticipants: 2,
		CommitDeadline: records.FormatTime(now.Add(5 * time.Minute)), Deadline: records.FormatTime(now.Add(10 * time.Minute)),
	}
	submitJSON(t, ms[0].admin, nil, "Rounds:Open", mustCanonical(t, spec))
	org2 := newForger(t, l, dir, "Org2MSP", "client", srellamaCC)

	// Closing two hours before the deadline, dated three hours ahead.
	refusedWith(t, org2.submit(now.Add(3*time.Hour), "Rounds:Close", "round-1"), codes.InvalidArgument, "time window")
	// Dated 14 minutes ahead: past the deadline, not past deadline + window.
	refusedWith(t, org2.submit(now.Add(14*time.Minute), "Rounds:Close", "round-1"), codes.Aborted, "it can be closed after")

	commit := mustCanonical(t, records.UpdateCommitment{Digest: nft.DigestBytes([]byte("Org2MSP")), Samples: 1000,
		Metrics: records.LocalMetrics{AUC: 0.9, F1: 0.7, Loss: 0.3}, Epsilon: 0.5, EpsilonTotal: 1.5})
	// A commit dated before the round opened is backdated.
	refusedWith(t, org2.submit(now.Add(-5*time.Minute), "Rounds:CommitUpdate", "round-1", commit), codes.Aborted, "before the round opened")
	if err := org2.submit(time.Now(), "Rounds:CommitUpdate", "round-1", commit); err != nil {
		t.Fatalf("an honest commit: %v", err)
	}
	round := evaluateJSON[records.Round](t, ms[0].client, "Rounds:Get", "round-1")
	if round.Status != records.RoundOpen {
		t.Fatalf("round is %s, want open", round.Status)
	}
}
