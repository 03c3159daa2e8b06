package ledger

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/srellama/srellama/node/fabsig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Gateway is the Ledger on the Fabric Gateway client.
type Gateway struct {
	gw       *client.Gateway
	network  *client.Network
	contract *client.Contract
	cfg      Config
	conn     *grpc.ClientConn // owned, closed by Close; nil when supplied
	log      *slog.Logger
	retry    RetryPolicy
}

var _ Ledger = (*Gateway)(nil)

// Option adjusts a connection.
type Option func(*options)

type options struct {
	conn   grpc.ClientConnInterface
	logger *slog.Logger
	retry  RetryPolicy
}

// WithConnection uses an existing gRPC connection (for an in-process
// ledger) instead of dialing cfg.Endpoint; the caller keeps ownership.
func WithConnection(conn grpc.ClientConnInterface) Option {
	return func(o *options) { o.conn = conn }
}

// WithLogger sets the logger for retried calls and event stream
// reconnections.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetryPolicy replaces DefaultRetryPolicy (see retry.go for what is
// retried, and why that never applies a transaction twice).
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// Dial connects to the gateway peer named by cfg with the identity it names.
func Dial(cfg Config, opts ...Option) (*Gateway, error) {
	o := options{logger: slog.New(slog.DiscardHandler), retry: DefaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := o.retry.Validate(); err != nil {
		return nil, err
	}
	id, sign, err := loadIdentity(cfg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: o.logger, retry: o.retry}
	conn := o.conn
	if conn == nil {
		if g.conn, err = dialTLS(cfg); err != nil {
			return nil, err
		}
		conn = g.conn
	}
	g.gw, err = client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(30*time.Second), client.WithEndorseTimeout(30*time.Second),
		client.WithSubmitTimeout(30*time.Second), client.WithCommitStatusTimeout(2*time.Minute))
	if err != nil {
		g.closeConn()
		return nil, fmt.Errorf("ledger: connect gateway: %w", err)
	}
	g.network = g.gw.GetNetwork(cfg.Channel)
	g.contract = g.network.GetContract(cfg.Chaincode)
	return g, nil
}

func loadIdentity(cfg Config) (*identity.X509Identity, identity.Sign, error) {
	certPEM, err := os.ReadFile(cfg.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: certificate: %w", err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: certificate %s: %w", cfg.Cert, err)
	}
	id, err := identity.NewX509Identity(cfg.MSPID, cert)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: identity: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: key: %w", err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: key %s: %w", cfg.Key, err)
	}
	if ecKey, ok := key.(*ecdsa.PrivateKey); ok {
		return id, func(digest []byte) ([]byte, error) { return fabsig.SignDigest(ecKey, digest) }, nil
	}
	sign, err := identity.NewPrivateKeySign(key) // Ed25519
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: key %s: %w", cfg.Key, err)
	}
	return id, sign, nil
}

func dialTLS(cfg Config) (*grpc.ClientConn, error) {
	rootPEM, err := os.ReadFile(cfg.TLSRootCert)
	if err != nil {
		return nil, fmt.Errorf("ledger: TLS root: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("ledger: TLS root %s: no certificate found", cfg.TLSRootCert)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: cfg.ServerName, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient("dns:///"+cfg.Endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("ledger: dial %s: %w", cfg.Endpoint, err)
	}
	return conn, nil
}

// Close closes the gateway and the connection it dialed.
func (g *Gateway) Close() error {
	err := g.gw.Close()
	return errors.Join(err, g.closeConn())
}

func (g *Gateway) closeConn() error {
	if g.conn == nil {
		return nil
	}
	return g.conn.Close()
}

// Submit implements Ledger. Each step is retried on transient failures
// with the same signed message, so the call has one transaction ID
// throughout and commits at most once (see retry.go).
func (g *Gateway) Submit(ctx context.Context, fn string, args ...string) ([]byte, string, error) {
	proposal, err := g.contract.NewProposal(fn, client.WithArguments(args...))
	if err != nil {
		return nil, "", fmt.Errorf("ledger: submit %s: %w", fn, err)
	}
	txID := proposal.TransactionID()
	r, attrs := g.newRetrier(fn), []any{"tx", txID}
	tx, err := retry(ctx, r, "endorse", attrs, func(ctx context.Context) (*client.Transaction, error) {
		return proposal.EndorseWithContext(ctx)
	})
	if err != nil {
		return nil, txID, g.rpcError(fn, "endorse", err)
	}
	maybeSent := false
	commit, err := retry(ctx, r, "submit", attrs, func(ctx context.Context) (*client.Commit, error) {
		c, err := tx.SubmitWithContext(ctx)
		maybeSent = maybeSent || mayHaveReachedOrderer(err)
		return c, err
	})
	if err != nil {
		err = g.rpcError(fn, "submit", err)
		if maybeSent {
			err = fmt.Errorf("%w: %w", err, ErrOutcomeUnknown)
		}
		return nil, txID, err
	}
	st, err := retry(ctx, r, "commit status", attrs, func(ctx context.Context) (*client.Status, error) {
		return commit.StatusWithContext(ctx)
	})
	if err != nil {
		return nil, txID, fmt.Errorf("%w: %w", g.rpcError(fn, "commit status", err), ErrOutcomeUnknown)
	}
	if !st.Successful {
		return nil, txID, &InvalidTxError{Fn: fn, TxID: txID, Code: st.Code.String(), Block: st.BlockNumber}
	}
	return tx.Result(), txID, nil
}

// Evaluate implements Ledger.
func (g *Gateway) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	proposal, err := g.contract.NewProposal(fn, client.WithArguments(args...))
	if err != nil {
		return nil, fmt.Errorf("ledger: evaluate %s: %w", fn, err)
	}
	res, err := retry(ctx, g.newRetrier(fn), "evaluate", nil, func(ctx context.Context) ([]byte, error) {
		return proposal.EvaluateWithContext(ctx)
	})
	if err != nil {
		return nil, g.rpcError(fn, "evaluate", err)
	}
	return res, nil
}

// chaincodeResponse is how Fabric peers report a chaincode's error response.
var chaincodeResponse = regexp.MustCompile(`chaincode response \d+, (?s)(.*)$`)

// rpcError surfaces the chaincode's own message when the chaincode refused.
func (g *Gateway) rpcError(fn, stage string, err error) error {
	st, ok := status.FromError(err)
	if ok {
		for _, d := range st.Details() {
			if detail, ok := d.(*gwproto.ErrorDetail); ok {
				if m := chaincodeResponse.FindStringSubmatch(detail.GetMessage()); m != nil {
					return &ChaincodeError{Fn: fn, MSPID: detail.GetMspId(), Message: m[1]}
				}
			}
		}
		if m := chaincodeResponse.FindStringSubmatch(st.Message()); m != nil {
			return &ChaincodeError{Fn: fn, Message: m[1]}
		}
	}
	return fmt.Errorf("ledger: %s %s: %w", stage, fn, err)
}

// Checkpoint is a durable position in the event stream (Fabric's file
// checkpointer: block number and the last transaction handled in it).
type Checkpoint struct {
	mu sync.Mutex
	fc *client.FileCheckpointer
}

// OpenCheckpoint opens (creating if needed) a checkpoint file.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	fc, err := client.NewFileCheckpointer(path)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint %s: %w", path, err)
	}
	return &Checkpoint{fc: fc}, nil
}

// Done records that ev was handled, durably.
func (c *Checkpoint) Done(ev Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fc.CheckpointTransaction(ev.BlockNumber, ev.TxID); err != nil {
		return fmt.Errorf("ledger: checkpoint: %w", err)
	}
	if err := c.fc.Sync(); err != nil {
		return fmt.Errorf("ledger: checkpoint: %w", err)
	}
	return nil
}

// Position returns the checkpointed block and transaction.
func (c *Checkpoint) Position() (uint64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fc.BlockNumber(), c.fc.TransactionID()
}

// Close closes the checkpoint file.
func (c *Checkpoint) Close() error { return c.fc.Close() }

// startOption resumes after the checkpoint; a fresh checkpoint starts at
// the genesis block (fabric-gateway would otherwise start at the next
// commit and the node would miss history it has never seen).
func (c *Checkpoint) startOption() client.ChaincodeEventsOption {
	b, tx := c.Position()
	if b == 0 && tx == "" {
		return client.WithStartBlock(0)
	}
	return client.WithCheckpoint(position{block: b, tx: tx})
}

type position struct {
	block uint64
	tx    string
}

func (p position) BlockNumber() uint64   { return p.block }
func (p position) TransactionID() string { return p.tx }

// Events implements Ledger. A broken stream is reopened from the
// checkpoint; events already handed to the consumer are not repeated.
func (g *Gateway) Events(ctx context.Context, cp *Checkpoint) (<-chan Event, error) {
	stream, err := g.network.ChaincodeEvents(ctx, g.cfg.Chaincode, cp.startOption())
	if err != nil {
		return nil, fmt.Errorf("ledger: chaincode events: %w", err)
	}
	out := make(chan Event)
	go g.forwardEvents(ctx, cp, stream, out)
	return out, nil
}

func (g *Gateway) forwardEvents(ctx context.Context, cp *Checkpoint, stream <-chan *client.ChaincodeEvent, out chan<- Event) {
	defer close(out)
	var last, resume *Event // resume: skip up to this event after a reconnect
	backoff := 100 * time.Millisecond
	for {
		for ev := range stream {
			e := Event{BlockNumber: ev.BlockNumber, TxID: ev.TransactionID, Name: ev.EventName, Payload: ev.Payload}
			if resume != nil {
				if e.BlockNumber < resume.BlockNumber || (e.BlockNumber == resume.BlockNumber && e.TxID != resume.TxID) {
					continue
				}
				skip := e.BlockNumber == resume.BlockNumber // the event itself was handed out
				resume = nil
				if skip {
					continue
				}
			}
			select {
			case out <- e:
				last = &e
			case <-ctx.Done():
				return
			}
			backoff = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		g.log.Warn("chaincode event stream ended; reconnecting", "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
		resume = last
		var err error
		stream, err = g.network.ChaincodeEvents(ctx, g.cfg.Chaincode, cp.startOption())
		if err != nil {
			g.log.Warn("reopen chaincode event stream", "err", err)
			closed := make(chan *client.ChaincodeEvent)
			close(closed)
			stream = closed
		}
	}
}
