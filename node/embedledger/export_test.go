package embedledger

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/srellama/srellama/node/embedledger/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
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

// VerifyStateInMemory is VerifyState as it was before it streamed: the
// whole replayed state in maps. Only the audit benchmark uses it, for its
// baseline.
func VerifyStateInMemory(ctx context.Context, s *store.Store) error {
	type entry struct {
		value []byte
		ver   store.Height
	}
	want := map[string]map[string]entry{}
	return s.View(func(snap *store.Snapshot) error {
		height, _ := snap.Height()
		for n := uint64(1); n < height; n++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			raw, err := snap.Block(n)
			if err != nil {
				return err
			}
			var b common.Block
			if err := proto.Unmarshal(raw, &b); err != nil {
				return err
			}
			txs, err := decodeCommitted(&b)
			if err != nil {
				return err
			}
			for _, c := range txs {
				for _, ns := range c.sets {
					if want[ns.Namespace] == nil {
						want[ns.Namespace] = map[string]entry{}
					}
					for _, w := range ns.KV.GetWrites() {
						if w.GetIsDelete() {
							delete(want[ns.Namespace], w.GetKey())
						} else {
							want[ns.Namespace][w.GetKey()] = entry{w.GetValue(), c.height}
						}
					}
				}
			}
		}
		for _, ns := range snap.Namespaces() {
			it := snap.Range(ns, "", "")
			for e, ok := it.Next(); ok; e, ok = it.Next() {
				w, found := want[ns][e.Key]
				if !found || w.ver != e.Version || !bytes.Equal(w.value, e.Value) {
					return fmt.Errorf("state %s/%q differs", ns, e.Key)
				}
				delete(want[ns], e.Key)
			}
		}
		for ns, keys := range want {
			for k := range keys {
				return fmt.Errorf("state lacks %s/%q", ns, k)
			}
		}
		return nil
	})
}
