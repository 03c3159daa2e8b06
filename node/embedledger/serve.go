package embedledger

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/srellama/srellama/node/embedledger/gateway"
	"github.com/srellama/srellama/node/ledger"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// classify maps ledger errors to gRPC codes for the gateway service.
func classify(err error) (codes.Code, string, string, bool) {
	var ccErr *ChaincodeError
	switch {
	case errors.As(err, &ccErr):
		return codes.Aborted, ccErr.MSPID, ccErr.Error(), true
	case errors.Is(err, ErrBadRequest):
		return codes.InvalidArgument, "", "", false
	case errors.Is(err, ErrUnauthorized):
		return codes.PermissionDenied, "", "", false
	case errors.Is(err, ErrNotFound):
		return codes.NotFound, "", "", false
	case errors.Is(err, ErrDuplicate):
		return codes.AlreadyExists, "", "", false
	case errors.Is(err, ErrUnavailable):
		return codes.Unavailable, "", "", false
	default:
		return codes.Internal, "", "", false
	}
}

// GatewayServer returns the Fabric Gateway service for this ledger.
func (l *Ledger) GatewayServer(address string) gwproto.GatewayServer {
	return gateway.New(l, classify, address)
}

// DialInProcess serves the gateway over an in-memory connection and returns
// a client connection to it: the same gRPC API and messages as over the
// network, without a port. The server stops when ctx ends or the
// connection is closed.
func (l *Ledger) DialInProcess(ctx context.Context) (*grpc.ClientConn, error) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	gwproto.RegisterGatewayServer(srv, l.GatewayServer("in-process"))
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("in-process gateway: %w", err)
	}
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return conn, nil
}

// ConnectionConfig returns the node ledger configuration for org's client
// (or admin) identity, for a gateway at endpoint.
func (l *Ledger) ConnectionConfig(mspID, who, endpoint, chaincode string) ledger.Config {
	return ledger.Config{
		Endpoint:    endpoint,
		ServerName:  "localhost",
		TLSRootCert: filepath.Join(l.cfg.Dir, "tls", "ca-cert.pem"),
		MSPID:       mspID,
		Cert:        filepath.Join(identityDir(l.cfg.Dir, mspID, who), "cert.pem"),
		Key:         filepath.Join(identityDir(l.cfg.Dir, mspID, who), "key.pem"),
		Channel:     l.cfg.Channel,
		Chaincode:   chaincode,
	}
}

// ServeConfig configures the standalone gateway service.
type ServeConfig struct {
	Ledger Config
	// Address to listen on; it must be a loopback address (e.g.
	// "127.0.0.1:7051"; port 0 picks a free port).
	Address string
	// Chaincode is the chaincode named in the connection configurations
	// written for each organization.
	Chaincode string
	// Ready, if set, is called with the bound address once the service
	// accepts connections and the configurations are written.
	Ready func(addr string)
}

// ConnectionConfigPath is where Serve writes an organization's node ledger
// configuration for its client identity; AdminConnectionConfigPath the one
// for its admin identity, which the consortium's admin-only transactions
// (registering the organization, requesting generations, transfers) need.
func ConnectionConfigPath(dir, mspID string) string {
	return filepath.Join(orgDir(dir, mspID), "connection.json")
}

// AdminConnectionConfigPath: see ConnectionConfigPath.
func AdminConnectionConfigPath(dir, mspID string) string {
	return filepath.Join(orgDir(dir, mspID), "connection-admin.json")
}

// Serve runs the ledger as a standalone Fabric Gateway service with TLS on a
// loopback address, so that several node processes share one ledger. On
// start it writes one connection configuration per organization (client
// identity). It returns when ctx ends.
func Serve(ctx context.Context, cfg ServeConfig) error {
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return fmt.Errorf("embedded ledger: address %q: %w", cfg.Address, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("embedded ledger: address %q is not a loopback address", cfg.Address)
	}
	if _, ok := cfg.Ledger.Chaincodes[cfg.Chaincode]; !ok {
		return fmt.Errorf("embedded ledger: chaincode %q is not hosted", cfg.Chaincode)
	}
	l, err := Open(cfg.Ledger)
	if err != nil {
		return err
	}
	defer l.Close()
	cert, err := tls.X509KeyPair(l.tls.Server.CertPEM, l.tls.Server.KeyPEM)
	if err != nil {
		return fmt.Errorf("embedded ledger: TLS key pair: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("embedded ledger: %w", err)
	}
	addr := lis.Addr().String()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	gwproto.RegisterGatewayServer(srv, l.GatewayServer(addr))
	for _, org := range l.cfg.Orgs {
		for path, who := range map[string]string{ConnectionConfigPath(l.cfg.Dir, org): "client", AdminConnectionConfigPath(l.cfg.Dir, org): "admin"} {
			if err := ledger.SaveConfig(path, l.ConnectionConfig(org, who, addr, cfg.Chaincode)); err != nil {
				lis.Close()
				return fmt.Errorf("embedded ledger: %w", err)
			}
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	l.log.Info("embedded ledger serving the Fabric Gateway API", "address", addr, "channel", l.cfg.Channel, "orgs", l.cfg.Orgs)
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}
	select {
	case err := <-served:
		return fmt.Errorf("embedded ledger: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	l.beginClose() // ends event streams and commit waits, which hold GracefulStop
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop() // event streams never end by themselves
	}
	return nil
}

// TLSRootPool returns a pool with the ledger's TLS CA, for clients.
func (l *Ledger) TLSRootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(l.tls.CA.Cert)
	return p
}
