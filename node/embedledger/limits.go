package embedledger

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gwproto "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Limits bound what clients of the served gateway can make the ledger hold
// in memory. Every client reaches the ledger before it is authenticated:
// Fabric's identity is inside the request, so a request must be read whole
// before it can be refused. Without bounds, gRPC's defaults (4 MiB messages,
// any number of streams and connections) let 192 concurrent 3.9 MB garbage
// requests from no identity at all take the ledger from 114 MB to 2.6 GB.
//
// The bounds: a request larger than MaxMessageBytes is refused from its
// length prefix, before its bytes are read. At most MaxInFlightBytes /
// MaxMessageBytes requests are being received at once, each counted at the
// largest size it may have; a request that finds no room within
// AdmissionWait is refused with ResourceExhausted (clients retry), before
// any of its bytes are read, and one not received within ReceiveTimeout is
// cancelled. A quarter of that room (at least one request) is all that
// connections without a successful call yet may use: a flood from no
// identity never gets a call through, so it competes only with other
// newcomers, and the clients already at work keep the rest. Each connection carries at most MaxStreamsPerConn concurrent
// calls, and connections beyond MaxConnections are closed as they arrive.
// Memory held for requests is then about three times MaxInFlightBytes at
// worst (the received buffers, their copy into one message, the decoded
// message), whatever the load.
type Limits struct {
	// MaxMessageBytes is the largest request accepted (default 4 MiB: an
	// s-528 document is at most 1 MiB, and an envelope carries it twice
	// with its proposal and read-write set).
	MaxMessageBytes int
	// MaxInFlightBytes bounds the requests being received at once (default
	// 32 MiB, eight requests of the largest size).
	MaxInFlightBytes int64
	// MaxStreamsPerConn bounds the concurrent calls on one connection
	// (default 32).
	MaxStreamsPerConn uint32
	// MaxConnections bounds the open client connections (default 128).
	MaxConnections int
	// AdmissionWait is how long a request waits for room before it is
	// refused (default 250ms).
	AdmissionWait time.Duration
	// ReceiveTimeout is how long a request may take to arrive once
	// admitted (default 10s): a client that sends slowly cannot hold room.
	ReceiveTimeout time.Duration
}

// DefaultLimits fit a host with two cores and a few GB of memory.
var DefaultLimits = Limits{
	MaxMessageBytes:   4 << 20,
	MaxInFlightBytes:  32 << 20,
	MaxStreamsPerConn: 32,
	MaxConnections:    128,
	AdmissionWait:     250 * time.Millisecond,
	ReceiveTimeout:    10 * time.Second,
}

func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxInFlightBytes == 0 {
		l.MaxInFlightBytes = max(d.MaxInFlightBytes, int64(l.MaxMessageBytes))
	}
	if l.MaxStreamsPerConn == 0 {
		l.MaxStreamsPerConn = d.MaxStreamsPerConn
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.AdmissionWait == 0 {
		l.AdmissionWait = d.AdmissionWait
	}
	if l.ReceiveTimeout == 0 {
		l.ReceiveTimeout = d.ReceiveTimeout
	}
	switch {
	case l.MaxMessageBytes < 0 || l.MaxInFlightBytes < 0 || l.MaxConnections < 0 || l.AdmissionWait < 0 || l.ReceiveTimeout < 0:
		return l, fmt.Errorf("embedded ledger: serving limits must not be negative: %+v", l)
	case l.MaxInFlightBytes < int64(l.MaxMessageBytes):
		return l, fmt.Errorf("embedded ledger: the in-flight bound (%d bytes) is below the message size bound (%d bytes): no request could be received", l.MaxInFlightBytes, l.MaxMessageBytes)
	}
	return l, nil
}

// serverOptions are the gRPC options that apply the limits.
func (l Limits) serverOptions(a *admission) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxMessageBytes),
		grpc.MaxConcurrentStreams(l.MaxStreamsPerConn),
		// Fixed windows instead of gRPC's dynamic ones, which grow to
		// 16 MB a stream: what the transport buffers for a call not yet
		// read stays at 64 KB.
		grpc.InitialWindowSize(64 << 10),
		grpc.InitialConnWindowSize(1 << 20),
		// A TLS handshake that does not finish holds a connection slot.
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.InTapHandle(a.admit),
		grpc.StatsHandler(a),
	}
}

// admission counts the requests being received (see Limits).
type admission struct {
	// slots are for connections that have made a successful call (every
	// served call authenticates its caller), newcomers for the others.
	slots, newcomers chan struct{}
	wait             time.Duration
	timeout          time.Duration
}

func newAdmission(l Limits) *admission {
	n := int(l.MaxInFlightBytes / int64(l.MaxMessageBytes))
	newcomers := max(1, n/4)
	return &admission{
		slots: make(chan struct{}, max(1, n-newcomers)), newcomers: make(chan struct{}, newcomers),
		wait: l.AdmissionWait, timeout: l.ReceiveTimeout,
	}
}

// servedMethods are the calls admitted; any other is refused before gRPC
// looks at it (an unknown method would otherwise hold a slot, since only
// calls to known methods report their end to the stats handler).
var servedMethods = map[string]bool{
	gwproto.Gateway_Evaluate_FullMethodName:        true,
	gwproto.Gateway_Endorse_FullMethodName:         true,
	gwproto.Gateway_Submit_FullMethodName:          true,
	gwproto.Gateway_CommitStatus_FullMethodName:    true,
	gwproto.Gateway_ChaincodeEvents_FullMethodName: true,
	healthpb.Health_Check_FullMethodName:           true,
	healthpb.Health_Watch_FullMethodName:           true,
}

type receivedKey struct{}

// admit runs when a call's headers arrive, before any of its message is
// read: it takes a slot, waiting at most a.wait, and arranges for the slot
// to be given back once the request has been received (or the call ends),
// and for the call to be cancelled if the request takes too long to come.
func (a *admission) admit(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !servedMethods[info.FullMethodName] {
		return nil, status.Errorf(codes.Unimplemented, "method %s is not served", info.FullMethodName)
	}
	slots := a.newcomers
	if c, ok := ctx.Value(connKey{}).(*connState); ok && c.proven.Load() {
		slots = a.slots
	}
	select {
	case slots <- struct{}{}:
	default:
		timer := time.NewTimer(a.wait)
		defer timer.Stop()
		select {
		case slots <- struct{}{}:
		case <-timer.C:
			return nil, status.Errorf(codes.ResourceExhausted, "the ledger is receiving as many requests as it may hold (%d); retry", cap(slots))
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	slowly := time.AfterFunc(a.timeout, func() {
		cancel(status.Errorf(codes.DeadlineExceeded, "the request did not arrive within %s", a.timeout))
	})
	var once sync.Once
	received := func() {
		once.Do(func() {
			slowly.Stop()
			<-slots
		})
	}
	context.AfterFunc(ctx, received) // the call ended, or was cancelled
	return context.WithValue(ctx, receivedKey{}, received), nil
}

type gatewayCallKey struct{}

// TagRPC marks the gateway's calls: each authenticates its caller, while
// the health service answers anyone.
func (a *admission) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if strings.HasPrefix(info.FullMethodName, "/"+gwproto.Gateway_ServiceDesc.ServiceName+"/") {
		return context.WithValue(ctx, gatewayCallKey{}, true)
	}
	return ctx
}

// HandleRPC gives the slot back once the request is received and decoded,
// and marks a connection proven by its first successful call.
func (a *admission) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.InPayload:
		if received, ok := ctx.Value(receivedKey{}).(func()); ok {
			received()
		}
	case *stats.End:
		if c, ok := ctx.Value(connKey{}).(*connState); ok && s.Error == nil && ctx.Value(gatewayCallKey{}) != nil {
			c.proven.Store(true)
		}
	}
}

type connKey struct{}

// connState is what admission knows of a connection: whether a call on it
// has succeeded, which takes a member's valid signature.
type connState struct{ proven atomic.Bool }

func (a *admission) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

func (a *admission) HandleConn(context.Context, stats.ConnStats) {}

// limitListener closes connections beyond a bound as they arrive, so that
// a client cannot make the ledger hold more than max connections' buffers.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(l net.Listener, max int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			c.Close()
		}
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
