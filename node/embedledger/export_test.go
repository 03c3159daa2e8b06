package embedledger

import (
	"context"
	"crypto/tls"
	"net"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ServeUnbounded serves the gateway as it was served before Limits: gRPC's
// defaults, no bound on streams, connections or requests in flight. Only
// the flood benchmark uses it, for its baseline.
func (l *Ledger) ServeUnbounded(ctx context.Context, ready func(addr string)) error {
	cert, err := tls.X509KeyPair(l.tls.Server.CertPEM, l.tls.Server.KeyPEM)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	gwproto.RegisterGatewayServer(srv, l.GatewayServer(lis.Addr().String()))
	go func() { <-ctx.Done(); srv.Stop() }()
	ready(lis.Addr().String())
	return srv.Serve(lis)
}
