package embedledger_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/embedledger/blocks"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rawClient is an unmodified fabric-gateway client for the steps the node's
// client hides (endorse now, submit later; tampering).
func rawClient(t *testing.T, l *embedledger.Ledger, id *identity.X509Identity, sign identity.Sign) *client.Contract {
	t.Helper()
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
	return gw.GetNetwork(testChannel).GetContract(kvName)
}

func identityFiles(t *testing.T, dir, org, who string) (*identity.X509Identity, identity.Sign) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "orgs", org, who, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "orgs", org, who, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return mustIdentity(t, org, certPEM, keyPEM)
}

func mustIdentity(t *testing.T, mspID string, certPEM, keyPEM []byte) (*identity.X509Identity, identity.Sign) {
	t.Helper()
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.NewX509Identity(mspID, cert)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	return id, sign
}

func endorse(t *testing.T, c *client.Contract, fn string, args ...string) *client.Transaction {
	t.Helper()
	p, err := c.NewProposal(fn, client.WithArguments(args...))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.Endorse()
	if err != nil {
		t.Fatalf("endorse %s: %v", fn, err)
	}
	return tx
}

func commitCode(t *testing.T, tx *client.Transaction) peer.TxValidationCode {
	t.Helper()
	commit, err := tx.Submit()
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("commit status: %v", err)
	}
	return st.Code
}

func TestConcurrentTransactionsConflictAsInFabric(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	id, sign := identityFiles(t, dir, "Org1MSP", "client")
	c := rawClient(t, l, id, sign)
	if code := commitCode(t, endorse(t, c, "put", "a1", "x")); code != peer.TxValidationCode_VALID {
		t.Fatalf("setup: %v", code)
	}

	tests := []struct {
		name          string
		first, second []string
		want          peer.TxValidationCode
	}{
		{"read of a key written since is stale", []string{"incr", "n"}, []string{"incr", "n"}, peer.TxValidationCode_MVCC_READ_CONFLICT},
		{"range that gained a key is a phantom", []string{"put", "a2", "y"}, []string{"countInto", "a", "b", "count"}, peer.TxValidationCode_PHANTOM_READ_CONFLICT},
		{"range unaffected by a write elsewhere", []string{"put", "z9", "y"}, []string{"countInto", "a", "b", "count"}, peer.TxValidationCode_VALID},
		{"blind writes do not conflict", []string{"put", "w", "1"}, []string{"put", "w", "2"}, peer.TxValidationCode_VALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Both endorsed on the same state; the first commits, then the second.
			first := endorse(t, c, tt.first[0], tt.first[1:]...)
			second := endorse(t, c, tt.second[0], tt.second[1:]...)
			if code := commitCode(t, first); code != peer.TxValidationCode_VALID {
				t.Fatalf("first: %v", code)
			}
			if code := commitCode(t, second); code != tt.want {
				t.Fatalf("second: %v, want %v", code, tt.want)
			}
		})
	}
	// The conflicting increment did not apply.
	if got, err := c.EvaluateTransaction("get", "n"); err != nil || string(got) != "1" {
		t.Errorf("n = %q, %v; want 1", got, err)
	}
	// Resubmitting a committed transaction is refused at endorsement and,
	// if replayed as an envelope, marked a duplicate.
	tx := endorse(t, c, "put", "dup", "1")
	if code := commitCode(t, tx); code != peer.TxValidationCode_VALID {
		t.Fatal(code)
	}
	if _, err := c.NewProposal("put", client.WithArguments("dup", "1")); err != nil {
		t.Fatal(err)
	}
	before := l.Height()
	if err := l.Submit(context.Background(), envelopeOf(t, tx)); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, l, id, sign, tx.TransactionID()); st != peer.TxValidationCode_VALID {
		t.Errorf("status of a replayed transaction = %v, want the first commit's VALID", st)
	}
	if codes := blockCodes(t, l, before); len(codes) != 1 || codes[0] != peer.TxValidationCode_DUPLICATE_TXID {
		t.Errorf("replayed transaction codes = %v, want [DUPLICATE_TXID]", codes)
	}
	if _, err := l.VerifyChain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedIdentitiesAndBadSignatures(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	now := time.Now()

	outsider, err := devca.New("Org1MSP", nil, now) // same MSP ID, foreign CA
	if err != nil {
		t.Fatal(err)
	}
	forged, err := outsider.Issue(devca.RoleClient, "mallory", now)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := devca.New("StrangerMSP", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	strangerID, err := stranger.Issue(devca.RoleClient, "eve", now)
	if err != nil {
		t.Fatal(err)
	}
	clientID, clientSign := identityFiles(t, dir, "Org1MSP", "client")
	peerID, peerSign := identityFiles(t, dir, "Org1MSP", "peer")
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongKeySign, _ := identity.NewPrivateKeySign(otherKey)
	forgedID, forgedSign := mustIdentity(t, "Org1MSP", forged.CertPEM, forged.KeyPEM)
	strangerXID, strangerSign := mustIdentity(t, "StrangerMSP", strangerID.CertPEM, strangerID.KeyPEM)
	flipped := func(digest []byte) ([]byte, error) {
		sig, err := clientSign(digest)
		if err == nil {
			sig[len(sig)-1] ^= 0x01
		}
		return sig, err
	}

	tests := []struct {
		name string
		id   *identity.X509Identity
		sign identity.Sign
	}{
		{"certificate from a foreign CA under a member MSP ID", forgedID, forgedSign},
		{"organization that is not a channel member", strangerXID, strangerSign},
		{"peer identity acting as a client", peerID, peerSign},
		{"signature by another key", clientID, wrongKeySign},
		{"corrupted signature", clientID, flipped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawClient(t, l, tt.id, tt.sign)
			_, err := c.EvaluateTransaction("get", "k")
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("evaluate: %v, want PermissionDenied", err)
			}
			_, err = c.SubmitTransaction("put", "k", "v")
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("submit: %v, want PermissionDenied", err)
			}
		})
	}

	// A genuine client whose envelope signature is bad at submit time.
	good := rawClient(t, l, clientID, clientSign)
	tx := endorse(t, good, "put", "k", "v")
	raw, _ := tx.Bytes()
	var prepared gateway.PreparedTransaction
	proto.Unmarshal(raw, &prepared)
	sig, _ := flipped(tx.Digest())
	prepared.Envelope.Signature = sig
	err = l.Submit(context.Background(), prepared.GetEnvelope())
	if !errors.Is(err, embedledger.ErrUnauthorized) {
		t.Errorf("submit with bad envelope signature: %v, want unauthorized", err)
	}

	// A client that rewrites the endorsed write set and signs the result
	// itself: ordered, but invalid for lack of a valid endorsement.
	tx = endorse(t, good, "put", "k", "honest")
	raw, _ = tx.Bytes()
	proto.Unmarshal(raw, &prepared)
	tampered := tamperWrite(t, prepared.GetEnvelope(), []byte("forged"))
	digest := sha256Of(tampered.GetPayload())
	tampered.Signature, _ = clientSign(digest)
	if err := l.Submit(context.Background(), tampered); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, l, clientID, clientSign, prepared.GetTransactionId())
	if st != peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Errorf("tampered write set: %v, want ENDORSEMENT_POLICY_FAILURE", st)
	}
	if got, _ := good.EvaluateTransaction("get", "k"); len(got) != 0 {
		t.Errorf("k = %q after refused transactions, want unset", got)
	}
}

func tamperWrite(t *testing.T, env *common.Envelope, value []byte) *common.Envelope {
	t.Helper()
	var payload common.Payload
	proto.Unmarshal(env.GetPayload(), &payload)
	var tx peer.Transaction
	proto.Unmarshal(payload.GetData(), &tx)
	var actionPayload peer.ChaincodeActionPayload
	proto.Unmarshal(tx.GetActions()[0].GetPayload(), &actionPayload)
	var prp peer.ProposalResponsePayload
	proto.Unmarshal(actionPayload.GetAction().GetProposalResponsePayload(), &prp)
	var action peer.ChaincodeAction
	proto.Unmarshal(prp.GetExtension(), &action)
	var set rwset.TxReadWriteSet
	proto.Unmarshal(action.GetResults(), &set)
	var kv kvrwset.KVRWSet
	proto.Unmarshal(set.GetNsRwset()[0].GetRwset(), &kv)
	kv.Writes[0].Value = value
	set.NsRwset[0].Rwset = mustMarshal(t, &kv)
	action.Results = mustMarshal(t, &set)
	prp.Extension = mustMarshal(t, &action)
	actionPayload.Action.ProposalResponsePayload = mustMarshal(t, &prp)
	tx.Actions[0].Payload = mustMarshal(t, &actionPayload)
	payload.Data = mustMarshal(t, &tx)
	return &common.Envelope{Payload: mustMarshal(t, &payload)}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Of(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// waitStatus asks for a commit status with a request signed as id.
func waitStatus(t *testing.T, l *embedledger.Ledger, id *identity.X509Identity, sign identity.Sign, txID string) peer.TxValidationCode {
	t.Helper()
	creator := mustMarshal(t, &msp.SerializedIdentity{Mspid: id.MspID(), IdBytes: id.Credentials()})
	req := mustMarshal(t, &gateway.CommitStatusRequest{ChannelId: testChannel, TransactionId: txID, Identity: creator})
	sig, err := sign(sha256Of(req))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.CommitStatus(ctx, &gateway.SignedCommitStatusRequest{Request: req, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetResult()
}

func waitHeight(t *testing.T, l *embedledger.Ledger, h uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Height() < h {
		if time.Now().After(deadline) {
			t.Fatalf("ledger height %d, want %d", l.Height(), h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEndorsementByRequestedOrganizations(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	id, sign := identityFiles(t, dir, "Org1MSP", "client")
	c := rawClient(t, l, id, sign)

	p, err := c.NewProposal("put", client.WithArguments("k", "v"), client.WithEndorsingOrganizations("Org2MSP", "Org3MSP"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.Endorse()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tx.Bytes()
	var prepared gateway.PreparedTransaction
	proto.Unmarshal(raw, &prepared)
	var payload common.Payload
	proto.Unmarshal(prepared.GetEnvelope().GetPayload(), &payload)
	var ptx peer.Transaction
	proto.Unmarshal(payload.GetData(), &ptx)
	var actionPayload peer.ChaincodeActionPayload
	proto.Unmarshal(ptx.GetActions()[0].GetPayload(), &actionPayload)
	var orgs []string
	for _, e := range actionPayload.GetAction().GetEndorsements() {
		var sid msp.SerializedIdentity
		proto.Unmarshal(e.GetEndorser(), &sid)
		orgs = append(orgs, sid.GetMspid())
	}
	if len(orgs) != 2 || orgs[0] != "Org2MSP" || orgs[1] != "Org3MSP" {
		t.Errorf("endorsed by %v, want Org2MSP and Org3MSP", orgs)
	}
	if code := commitCode(t, tx); code != peer.TxValidationCode_VALID {
		t.Errorf("commit: %v", code)
	}

	p, _ = c.NewProposal("put", client.WithArguments("k", "v"), client.WithEndorsingOrganizations("NobodyMSP"))
	if _, err := p.Endorse(); status.Code(err) != codes.NotFound {
		t.Errorf("endorsement by a non-member: %v, want NotFound", err)
	}
}

func TestCommitStatusAndEventRequestsAreAuthenticated(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	id, sign := identityFiles(t, dir, "Org1MSP", "client")
	creator := mustMarshal(t, &msp.SerializedIdentity{Mspid: id.MspID(), IdBytes: id.Credentials()})
	ctx := context.Background()

	statusReq := mustMarshal(t, &gateway.CommitStatusRequest{ChannelId: testChannel, TransactionId: "tx", Identity: creator})
	otherSig, _ := sign(sha256Of([]byte("something else")))
	if _, err := l.CommitStatus(ctx, &gateway.SignedCommitStatusRequest{Request: statusReq, Signature: otherSig}); !errors.Is(err, embedledger.ErrUnauthorized) {
		t.Errorf("commit status with a signature over other bytes: %v", err)
	}
	eventsReq := mustMarshal(t, &gateway.ChaincodeEventsRequest{ChannelId: testChannel, ChaincodeId: kvName, Identity: creator})
	err := l.ChaincodeEvents(ctx, &gateway.SignedChaincodeEventsRequest{Request: eventsReq, Signature: otherSig}, func(*gateway.ChaincodeEventsResponse) error { return nil })
	if !errors.Is(err, embedledger.ErrUnauthorized) {
		t.Errorf("events with a signature over other bytes: %v", err)
	}
	goodSig, _ := sign(sha256Of(eventsReq))
	wrongChannel := mustMarshal(t, &gateway.ChaincodeEventsRequest{ChannelId: "other", ChaincodeId: kvName, Identity: creator})
	wrongSig, _ := sign(sha256Of(wrongChannel))
	err = l.ChaincodeEvents(ctx, &gateway.SignedChaincodeEventsRequest{Request: wrongChannel, Signature: wrongSig}, func(*gateway.ChaincodeEventsResponse) error { return nil })
	if !errors.Is(err, embedledger.ErrNotFound) {
		t.Errorf("events on another channel: %v", err)
	}
	// A genuine request is served (and ends with its context).
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = l.ChaincodeEvents(cctx, &gateway.SignedChaincodeEventsRequest{Request: eventsReq, Signature: goodSig}, func(*gateway.ChaincodeEventsResponse) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("genuine events request: %v", err)
	}
}

// TestEndorsementRewrappedUnderACommittedIDIsADuplicate: a client takes a
// fresh endorsement and wraps it in an envelope whose header, signed by
// itself, reuses the ID of one of its committed transactions. The
// endorsement does not cover the envelope's header, so the committer must
// not take the endorsed simulation's ID for the envelope's: it is a
// duplicate, and its write is not applied.
func TestEndorsementRewrappedUnderACommittedIDIsADuplicate(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir, nil)
	defer l.Close()
	clientID, clientSign := identityFiles(t, dir, "Org1MSP", "client")
	c := rawClient(t, l, clientID, clientSign)

	committed := endorse(t, c, "put", "b", "1")
	if code := commitCode(t, committed); code != peer.TxValidationCode_VALID {
		t.Fatal(code)
	}
	fresh := endorse(t, c, "put", "a", "1")
	rewrapped := withHeaderOf(t, envelopeOf(t, fresh), envelopeOf(t, committed))
	rewrapped.Signature, _ = clientSign(sha256Of(rewrapped.GetPayload()))
	before := l.Height()
	if err := l.Submit(context.Background(), rewrapped); err != nil {
		t.Fatal(err)
	}
	if codes := blockCodes(t, l, before); len(codes) != 1 || codes[0] != peer.TxValidationCode_DUPLICATE_TXID {
		t.Errorf("rewrapped endorsement codes = %v, want [DUPLICATE_TXID]", codes)
	}
	if got, _ := c.EvaluateTransaction("get", "a"); len(got) != 0 {
		t.Errorf("a = %q, want unset", got)
	}
}

// blockCodes waits for block num and returns its validation codes.
func blockCodes(t *testing.T, l *embedledger.Ledger, num uint64) []peer.TxValidationCode {
	t.Helper()
	waitHeight(t, l, num+1)
	b, err := l.Block(num)
	if err != nil {
		t.Fatal(err)
	}
	return blocks.ValidationCodes(b)
}

func envelopeOf(t *testing.T, tx *client.Transaction) *common.Envelope {
	t.Helper()
	raw, err := tx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var prepared gateway.PreparedTransaction
	if err := proto.Unmarshal(raw, &prepared); err != nil {
		t.Fatal(err)
	}
	return prepared.GetEnvelope()
}

// withHeaderOf returns env's transaction under from's header (channel and
// signature headers, in the payload and the action alike), unsigned.
func withHeaderOf(t *testing.T, env, from *common.Envelope) *common.Envelope {
	t.Helper()
	var payload, fromPayload common.Payload
	proto.Unmarshal(env.GetPayload(), &payload)
	proto.Unmarshal(from.GetPayload(), &fromPayload)
	var tx peer.Transaction
	proto.Unmarshal(payload.GetData(), &tx)
	payload.Header = fromPayload.GetHeader()
	tx.Actions[0].Header = fromPayload.GetHeader().GetSignatureHeader()
	payload.Data = mustMarshal(t, &tx)
	return &common.Envelope{Payload: mustMarshal(t, &payload)}
}
