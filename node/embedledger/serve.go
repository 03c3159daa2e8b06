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
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	case errors.Is(err, ErrDamaged):
		return codes.DataLoss, "", "", false
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

// DialInProcess returns a connection to this ledger's gateway service for
// a fabric-gateway client in the same process. Unary calls (Evaluate,
// Endorse, Submit, CommitStatus) go straight to the service, with the same
// request and response messages and the same status errors as over the
// network, minus HTTP/2 and protobuf encoding; the event stream goes
// through a real gRPC server on an in-memory listener. Close it (or end
// ctx) to stop that server.
func (l *Ledger) DialInProcess(ctx context.Context) (*InProcessConn, error) {
	lis := bufconn.Listen(1 << 20)
	service := l.GatewayServer("in-process")
	srv := grpc.NewServer()
	gwproto.RegisterGatewayServer(srv, service)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///in-process",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("in-process gateway: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		conn.Close()
		srv.Stop()
	}()
	return &InProcessConn{service: service, streams: conn, cancel: cancel}, nil
}

// InProcessConn is a grpc.ClientConnInterface to an in-process gateway.
type InProcessConn struct {
	service gwproto.GatewayServer
	streams *grpc.ClientConn
	cancel  context.CancelFunc
}

var _ grpc.ClientConnInterface = (*InProcessConn)(nil)

// Invoke performs a unary call.
func (c *InProcessConn) Invoke(ctx context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	var resp proto.Message
	var err error
	// fresh: the service builds the reply for this call and holds nothing
	// of it, so it is handed to the caller instead of copied. Evaluate's
	// payload is the chaincode's, which may share the ledger's memory.
	fresh := true
	switch method {
	case gwproto.Gateway_Evaluate_FullMethodName:
		resp, err = call(ctx, args, c.service.Evaluate)
		fresh = false
	case gwproto.Gateway_Endorse_FullMethodName:
		resp, err = call(ctx, args, c.service.Endorse)
	case gwproto.Gateway_Submit_FullMethodName:
		resp, err = call(ctx, args, c.service.Submit)
	case gwproto.Gateway_CommitStatus_FullMethodName:
		resp, err = call(ctx, args, c.service.CommitStatus)
	default:
		return status.Errorf(codes.Unimplemented, "method %s not implemented", method)
	}
	if err != nil {
		return err
	}
	out, ok := reply.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "reply %T is not a protobuf message", reply)
	}
	if out.ProtoReflect().Descriptor() != resp.ProtoReflect().Descriptor() {
		return status.Errorf(codes.Internal, "reply %T is not a %T", reply, resp)
	}
	proto.Reset(out)
	if !fresh {
		proto.Merge(out, resp) // a deep copy: the caller owns its reply
		return nil
	}
	dst := out.ProtoReflect()
	resp.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	return nil
}

func call[Req proto.Message, Resp proto.Message](ctx context.Context, args any, fn func(context.Context, Req) (Resp, error)) (proto.Message, error) {
	req, ok := args.(Req)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "request %T has the wrong type", args)
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return fn(ctx, req)
}

// NewStream opens a streaming call (chaincode events) over in-memory gRPC.
func (c *InProcessConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.streams.NewStream(ctx, desc, method, opts...)
}

// Close stops the in-memory server.
func (c *InProcessConn) Close() error {
	c.cancel()
	return nil
}

// Connect returns the node's ledger client for an organization's identity
// (who: "client" or "admin") over an in-process connection, for the demo and
// tests; the connection lives until ctx ends.
func (l *Ledger) Connect(ctx context.Context, mspID, who, chaincode string) (*ledger.Gateway, error) {
	if _, ok := l.peers[mspID]; !ok {
		return nil, fmt.Errorf("embedded ledger: %q is not a member organization", mspID)
	}
	if who != "client" && who != "admin" {
		return nil, fmt.Errorf("embedded ledger: identity %q: want client or admin", who)
	}
	conn, err := l.DialInProcess(ctx)
	if err != nil {
		return nil, err
	}
	gw, err := ledger.Dial(l.ConnectionConfig(mspID, who, "in-process", chaincode), ledger.WithConnection(conn))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return gw, nil
}

// ConnectionConfig returns the node ledger configuration for org's client
// (or admin) identity, for a gateway at endpoint (for an in-process
// connection, any placeholder: the connection is supplied separately).
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
// start it writes connection configurations for each organization (client
// and admin identities). It returns when ctx ends.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if _, ok := cfg.Ledger.Chaincodes[cfg.Chaincode]; !ok {
		return fmt.Errorf("embedded ledger: chaincode %q is not hosted", cfg.Chaincode)
	}
	if err := checkLoopback(cfg.Address); err != nil {
		return err
	}
	l, err := Open(cfg.Ledger)
	if err != nil {
		return err
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- l.ServeGateway(ctx, cfg.Address, cfg.Chaincode, cfg.Ready) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		l.beginClose() // ends event streams and commit waits, so the server stops at once
		return <-served
	}
}

func checkLoopback(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("embedded ledger: address %q: %w", address, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("embedded ledger: address %q is not a loopback address", address)
	}
	return nil
}

// ServeGateway serves this ledger's gateway API with TLS on a loopback
// address until ctx ends, after writing the organizations' connection
// configurations (naming chaincode) for the bound address. ready, if set,
// is called with that address once clients can connect.
func (l *Ledger) ServeGateway(ctx context.Context, address, chaincode string, ready func(addr string)) error {
	if err := checkLoopback(address); err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(l.tls.Server.CertPEM, l.tls.Server.KeyPEM)
	if err != nil {
		return fmt.Errorf("embedded ledger: TLS key pair: %w", err)
	}
	tcp, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("embedded ledger: %w", err)
	}
	lis := newLimitListener(tcp, l.cfg.Limits.MaxConnections)
	addr := lis.Addr().String()
	opts := append(l.cfg.Limits.serverOptions(newAdmission(l.cfg.Limits)),
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	srv := grpc.NewServer(opts...)
	gwproto.RegisterGatewayServer(srv, l.GatewayServer(addr))
	// The gRPC health service says whether the ledger is sound (see
	// Health): NOT_SERVING once a read found the store damaged or a commit
	// failed.
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	l.watchHealth(func(error) {
		hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		hs.SetServingStatus(gwproto.Gateway_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	for _, org := range l.cfg.Orgs {
		for path, who := range map[string]string{ConnectionConfigPath(l.cfg.Dir, org): "client", AdminConnectionConfigPath(l.cfg.Dir, org): "admin"} {
			if err := ledger.SaveConfig(path, l.ConnectionConfig(org, who, addr, chaincode)); err != nil {
				lis.Close()
				return fmt.Errorf("embedded ledger: %w", err)
			}
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	l.log.Info("embedded ledger serving the Fabric Gateway API", "address", addr, "channel", l.cfg.Channel, "orgs", l.cfg.Orgs)
	if ready != nil {
		ready(addr)
	}
	select {
	case err := <-served:
		return fmt.Errorf("embedded ledger: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		srv.Stop() // event streams of a ledger that stays open never end by themselves
	}
	return nil
}

// TLSRootPool returns a pool with the ledger's TLS CA, for clients.
func (l *Ledger) TLSRootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(l.tls.CA.Cert)
	return p
}
