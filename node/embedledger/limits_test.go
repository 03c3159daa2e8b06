package embedledger_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/srellama/srellama/node/embedledger"
	"github.com/srellama/srellama/node/ledger"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// serveLimited serves a ledger with limits over TLS on a loopback port.
func serveLimited(t *testing.T, limits embedledger.Limits) (l *embedledger.Ledger, dir, addr string) {
	t.Helper()
	dir = t.TempDir()
	l, err := embedledger.Open(embedledger.Config{Dir: dir, Channel: testChannel, Orgs: testOrgs,
		Chaincodes: map[string]shim.Chaincode{kvName: kvChaincode{}}, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- l.ServeGateway(ctx, "127.0.0.1:0", kvName, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	return l, dir, addr
}

func rawConn(t *testing.T, dir, addr string) *grpc.ClientConn {
	t.Helper()
	creds, err := credentials.NewClientTLSFromFile(dir+"/tls/ca-cert.pem", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func garbageEndorse(size int) *gwproto.EndorseRequest {
	return &gwproto.EndorseRequest{TransactionId: "x", ChannelId: testChannel,
		ProposedTransaction: &peer.SignedProposal{ProposalBytes: make([]byte, size), Signature: []byte("sig")}}
}

// The served gateway refuses what is over its limits before reading it:
// an oversize request from its length prefix, a call to a method it does
// not serve, a newcomer when the room for newcomers is taken, a connection
// beyond the bound. Connections that have made a successful call keep
// their room, and a client that sends its request too slowly loses its
// room.
func TestServedGatewayLimits(t *testing.T) {
	limits := embedledger.Limits{
		MaxMessageBytes: 1 << 20, MaxInFlightBytes: 4 << 20, // four requests: one for newcomers
		MaxConnections: 8, AdmissionWait: 50 * time.Millisecond, ReceiveTimeout: time.Second,
	}
	_, dir, addr := serveLimited(t, limits)
	ctx := context.Background()

	honest, err := ledger.Dial(ledgerConfigFor(dir, "Org1MSP", addr))
	if err != nil {
		t.Fatal(err)
	}
	defer honest.Close()
	if _, _, err := honest.Submit(ctx, "put", "k", "v"); err != nil {
		t.Fatal(err)
	}

	oversize := gwproto.NewGatewayClient(rawConn(t, dir, addr))
	if _, err := oversize.Endorse(ctx, garbageEndorse(2<<20)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 2 MB request = %v, want ResourceExhausted", err)
	}
	if _, err := oversize.Endorse(ctx, garbageEndorse(1000)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a garbage request = %v, want InvalidArgument", err)
	}
	if err := rawConn(t, dir, addr).Invoke(ctx, "/gateway.Gateway/Nothing", &gwproto.EndorseRequest{}, &gwproto.EndorseResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("an unknown method = %v, want Unimplemented", err)
	}
	st, err := healthpb.NewHealthClient(rawConn(t, dir, addr)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v; want SERVING", st, err)
	}

	// A newcomer opens a call and sends nothing: it holds the newcomers'
	// room until the receive timeout.
	slow, err := rawConn(t, dir, addr).NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, gwproto.Gateway_Endorse_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	newcomer := gwproto.NewGatewayClient(rawConn(t, dir, addr))
	if _, err := newcomer.Endorse(ctx, garbageEndorse(1000)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a newcomer while the room is taken = %v, want ResourceExhausted", err)
	}
	if _, _, err := honest.Submit(ctx, "put", "k", "v2"); err != nil {
		t.Errorf("a proven client while newcomers wait: %v", err)
	}
	if err := slow.RecvMsg(&gwproto.EndorseResponse{}); status.Code(err) != codes.DeadlineExceeded && status.Code(err) != codes.Canceled {
		t.Errorf("the slow call ended with %v, want it cut off", err)
	}
	if _, err := newcomer.Endorse(ctx, garbageEndorse(1000)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a newcomer after the slow call was cut off = %v, want it read (and refused as garbage)", err)
	}

	// Connections beyond the bound are closed as they arrive.
	var conns []net.Conn
	refused := 0
	for range 12 {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			refused++
			continue
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if refused == 0 {
		t.Errorf("12 more connections (bound 8, several open) all accepted")
	}
}
