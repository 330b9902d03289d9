package grpcrpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// NewResourceManagerClient returns the ResourceManager service at cc as an
// rpc.ResourceManagerGateway.
func NewResourceManagerClient(cc grpc.ClientConnInterface) rpc.ResourceManagerGateway {
	return &resourceManagerClient{peer: newPeer(cc), c: rpcpb.NewResourceManagerClient(cc)}
}

type resourceManagerClient struct {
	peer
	c rpcpb.ResourceManagerClient
}

func (r *resourceManagerClient) RegisterTaskManager(ctx context.Context, reg rpc.TaskManagerRegistration) error {
	_, err := r.c.RegisterTaskManager(ctx, registrationToPB(reg))
	return r.err(ctx, "ResourceManager.RegisterTaskManager", err)
}

func (r *resourceManagerClient) HeartbeatTaskManager(ctx context.Context, tm string) error {
	_, err := r.c.HeartbeatTaskManager(ctx, &rpcpb.HeartbeatTaskManagerRequest{TaskManager: tm})
	return r.err(ctx, "ResourceManager.HeartbeatTaskManager", err)
}

func (r *resourceManagerClient) AllocateSlots(ctx context.Context, job rpc.JobID, n int, exclude []string) ([]rpc.SlotGrant, error) {
	resp, err := r.c.AllocateSlots(ctx, &rpcpb.AllocateSlotsRequest{Job: string(job), N: int64(n), Exclude: stringsOrNil(exclude)})
	if err != nil {
		return nil, r.err(ctx, "ResourceManager.AllocateSlots", err)
	}
	return mapSlice(resp.GetGrants(), slotGrantFromPB), nil
}

func (r *resourceManagerClient) ReleaseSlots(ctx context.Context, job rpc.JobID) error {
	_, err := r.c.ReleaseSlots(ctx, &rpcpb.ReleaseSlotsRequest{Job: string(job)})
	return r.err(ctx, "ResourceManager.ReleaseSlots", err)
}

// RegisterResourceManagerServer serves impl as the ResourceManager service
// on s (a *grpc.Server, such as NewServer's).
func RegisterResourceManagerServer(s grpc.ServiceRegistrar, impl rpc.ResourceManagerGateway) {
	rpcpb.RegisterResourceManagerServer(s, &resourceManagerServer{impl: impl})
}

type resourceManagerServer struct {
	rpcpb.UnimplementedResourceManagerServer
	impl rpc.ResourceManagerGateway
}

func (s *resourceManagerServer) RegisterTaskManager(ctx context.Context, req *rpcpb.TaskManagerRegistration) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.RegisterTaskManager(ctx, registrationFromPB(req)))
}

func (s *resourceManagerServer) HeartbeatTaskManager(ctx context.Context, req *rpcpb.HeartbeatTaskManagerRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.HeartbeatTaskManager(ctx, req.GetTaskManager()))
}

func (s *resourceManagerServer) AllocateSlots(ctx context.Context, req *rpcpb.AllocateSlotsRequest) (*rpcpb.AllocateSlotsResponse, error) {
	grants, err := s.impl.AllocateSlots(ctx, rpc.JobID(req.GetJob()), int(req.GetN()), stringsOrNil(req.GetExclude()))
	if err != nil {
		return nil, statusOf(err)
	}
	return &rpcpb.AllocateSlotsResponse{Grants: mapSlice(grants, slotGrantToPB)}, nil
}

func (s *resourceManagerServer) ReleaseSlots(ctx context.Context, req *rpcpb.ReleaseSlotsRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.ReleaseSlots(ctx, rpc.JobID(req.GetJob())))
}
