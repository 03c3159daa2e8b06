package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// TestMain lets the test binary act as the chaincode process, so the
// service test runs the real main in a child process it can kill.
func TestMain(m *testing.M) {
	if os.Getenv("SRELLAMA_TEST_RUN_CHAINCODE") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestServesAsAService starts the chaincode as a service on a loopback port
// and connects the way a peer does: the chaincode must open the stream by
// registering under its package ID, as Fabric's chaincode protocol says.
func TestServesAsAService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SRELLAMA_TEST_RUN_CHAINCODE=1", "CHAINCODE_SERVER_ADDRESS="+addr, "CHAINCODE_ID=srellama_1.0:0123abcd")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stream grpc.BidiStreamingClient[peer.ChaincodeMessage, peer.ChaincodeMessage]
	for {
		stream, err = peer.NewChaincodeClient(conn).Connect(ctx, grpc.WaitForReady(true))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("chaincode service never accepted a connection: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("no register message: %v", err)
	}
	if msg.GetType() != peer.ChaincodeMessage_REGISTER {
		t.Fatalf("first message is %s, want REGISTER", msg.GetType())
	}
	var id peer.ChaincodeID
	if err := proto.Unmarshal(msg.GetPayload(), &id); err != nil {
		t.Fatal(err)
	}
	if id.GetName() != "srellama_1.0:0123abcd" {
		t.Fatalf("registered as %q", id.GetName())
	}
}
