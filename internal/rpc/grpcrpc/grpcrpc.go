// Package grpcrpc carries package rpc's gateways over gRPC: for each of the
// TaskExecutor, JobMaster, ResourceManager and Dispatcher services (see
// proto/freshet/v1/cluster.proto) a client that implements the gateway
// interface over a connection, and a server adapter that serves a gateway
// implementation. Neither side knows whether its peer is in this process
// or another.
//
// A gateway's error crosses as a gRPC status whose details hold the
// rpc.SerializedError of the error: the client returns it as an
// *rpc.RemoteError, which prints the original message and matches rpc's
// sentinels (rpc.ErrNoSuchTask, rpc.ErrUnknownJob, context.Canceled, …)
// with errors.Is. A call that fails on the way (the peer is down, the
// caller's context ended) returns a *CallError naming the method and the
// peer's address.
//
// Connections are not encrypted or authenticated: Dial uses insecure
// credentials, for a cluster on a trusted network.
package grpcrpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// MaxMessageSize is the largest message a client or server made here sends
// or takes: deployments carry the metadata of the checkpoint they restore,
// and archives a job's REST documents.
const MaxMessageSize = 64 << 20

// Keepalive: a client pings a connection idle for KeepaliveTime and drops
// it when the ping is not answered within KeepaliveTimeout, so a peer that
// vanished without closing its connections (a host that died, a cut
// network) is found even between calls. The server allows pings that often
// and pings its clients alike.
const (
	KeepaliveTime    = 20 * time.Second
	KeepaliveTimeout = 10 * time.Second
	// keepaliveMinTime is the shortest interval of pings a server allows;
	// below KeepaliveTime so that a client's pings are never refused.
	keepaliveMinTime = 10 * time.Second
)

// Dial connects to a control-plane server at addr (host:port) and waits
// until the connection is ready or ctx ends. The connection reconnects by
// itself after that; close it when done. opts are added to (and may
// override) Dial's: insecure credentials (no TLS, see the package
// comment), keepalive pings and MaxMessageSize.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                KeepaliveTime,
			Timeout:             KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}, opts...)
	cc, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if s == connectivity.Shutdown || !cc.WaitForStateChange(ctx, s) {
			cc.Close()
			err := ctx.Err()
			if err == nil {
				err = errors.New("connection shut down")
			}
			return nil, fmt.Errorf("dialing %s (connection %s): %w", addr, s, err)
		}
	}
	return cc, nil
}

// NewServer returns a gRPC server for the control plane's services, with
// keepalive pings and their enforcement and MaxMessageSize; opts are added
// to (and may override) these. Register services with the Register…Server
// functions.
func NewServer(opts ...grpc.ServerOption) *grpc.Server {
	all := append([]grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    KeepaliveTime,
			Timeout: KeepaliveTimeout,
		}),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	}, opts...)
	return grpc.NewServer(all...)
}
