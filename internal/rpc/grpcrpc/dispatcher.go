package grpcrpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// NewDispatcherClient returns the Dispatcher service at cc as an
// rpc.DispatcherGateway.
func NewDispatcherClient(cc grpc.ClientConnInterface) rpc.DispatcherGateway {
	return &dispatcherClient{peer: newPeer(cc), c: rpcpb.NewDispatcherClient(cc)}
}

type dispatcherClient struct {
	peer
	c rpcpb.DispatcherClient
}

func (d *dispatcherClient) RegisterJobMaster(ctx context.Context, r rpc.JobMasterRegistration) error {
	_, err := d.c.RegisterJobMaster(ctx, jobMasterToPB(r))
	return d.err(ctx, "Dispatcher.RegisterJobMaster", err)
}

func (d *dispatcherClient) JobEnded(ctx context.Context, a rpc.JobArchive) error {
	_, err := d.c.JobEnded(ctx, archiveToPB(a))
	return d.err(ctx, "Dispatcher.JobEnded", err)
}

// RegisterDispatcherServer serves impl as the Dispatcher service on s (a
// *grpc.Server, such as NewServer's).
func RegisterDispatcherServer(s grpc.ServiceRegistrar, impl rpc.DispatcherGateway) {
	rpcpb.RegisterDispatcherServer(s, &dispatcherServer{impl: impl})
}

type dispatcherServer struct {
	rpcpb.UnimplementedDispatcherServer
	impl rpc.DispatcherGateway
}

func (s *dispatcherServer) RegisterJobMaster(ctx context.Context, req *rpcpb.JobMasterRegistration) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.RegisterJobMaster(ctx, jobMasterFromPB(req)))
}

func (s *dispatcherServer) JobEnded(ctx context.Context, req *rpcpb.JobArchive) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.JobEnded(ctx, archiveFromPB(req)))
}
