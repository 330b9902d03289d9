package grpcrpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// NewJobMasterClient returns the JobMaster service at cc as an
// rpc.JobManagerGateway. Its RegisterTaskManager returns an error matching
// ErrRegisterWithResourceManager: the service has no such call.
func NewJobMasterClient(cc grpc.ClientConnInterface) rpc.JobManagerGateway {
	return &jobMasterClient{peer: newPeer(cc), c: rpcpb.NewJobMasterClient(cc)}
}

type jobMasterClient struct {
	peer
	c rpcpb.JobMasterClient
}

func (j *jobMasterClient) RegisterTaskManager(_ context.Context, tm rpc.TaskManagerGateway) error {
	return fmt.Errorf("JobMaster.RegisterTaskManager of %s to %s: %w", tm.ID(), j.target, ErrRegisterWithResourceManager)
}

func (j *jobMasterClient) UpdateTaskState(ctx context.Context, u rpc.TaskUpdate) error {
	_, err := j.c.UpdateTaskState(ctx, taskUpdateToPB(u))
	return j.err(ctx, "JobMaster.UpdateTaskState", err)
}

func (j *jobMasterClient) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	_, err := j.c.SendOperatorEvent(ctx, &rpcpb.SendOperatorEventRequest{Exec: execToPB(exec), Event: event})
	return j.err(ctx, "JobMaster.SendOperatorEvent", err)
}

func (j *jobMasterClient) AcknowledgeCheckpoint(ctx context.Context, ack rpc.CheckpointAck) error {
	_, err := j.c.AcknowledgeCheckpoint(ctx, ackToPB(ack))
	return j.err(ctx, "JobMaster.AcknowledgeCheckpoint", err)
}

func (j *jobMasterClient) DeclineCheckpoint(ctx context.Context, d rpc.CheckpointDecline) error {
	_, err := j.c.DeclineCheckpoint(ctx, declineToPB(d))
	return j.err(ctx, "JobMaster.DeclineCheckpoint", err)
}

func (j *jobMasterClient) AwaitFinalCheckpoint(ctx context.Context, w rpc.FinalCheckpointWanted) error {
	_, err := j.c.AwaitFinalCheckpoint(ctx, finalWantedToPB(w))
	return j.err(ctx, "JobMaster.AwaitFinalCheckpoint", err)
}

// JobMasterGateway is what the JobMaster service serves: an
// rpc.JobManagerGateway less RegisterTaskManager, which a distributed
// cluster does not call on a job master.
type JobMasterGateway interface {
	UpdateTaskState(ctx context.Context, u rpc.TaskUpdate) error
	SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error
	AcknowledgeCheckpoint(ctx context.Context, ack rpc.CheckpointAck) error
	DeclineCheckpoint(ctx context.Context, d rpc.CheckpointDecline) error
	AwaitFinalCheckpoint(ctx context.Context, w rpc.FinalCheckpointWanted) error
}

// RegisterJobMasterServer serves impl as the JobMaster service on s (a
// *grpc.Server, such as NewServer's). Any rpc.JobManagerGateway is a
// JobMasterGateway.
func RegisterJobMasterServer(s grpc.ServiceRegistrar, impl JobMasterGateway) {
	rpcpb.RegisterJobMasterServer(s, &jobMasterServer{impl: impl})
}

type jobMasterServer struct {
	rpcpb.UnimplementedJobMasterServer
	impl JobMasterGateway
}

func (s *jobMasterServer) UpdateTaskState(ctx context.Context, req *rpcpb.TaskUpdate) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.UpdateTaskState(ctx, taskUpdateFromPB(req)))
}

func (s *jobMasterServer) SendOperatorEvent(ctx context.Context, req *rpcpb.SendOperatorEventRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.SendOperatorEvent(ctx, execFromPB(req.GetExec()), req.GetEvent()))
}

func (s *jobMasterServer) AcknowledgeCheckpoint(ctx context.Context, req *rpcpb.CheckpointAck) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.AcknowledgeCheckpoint(ctx, ackFromPB(req)))
}

func (s *jobMasterServer) DeclineCheckpoint(ctx context.Context, req *rpcpb.CheckpointDecline) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.DeclineCheckpoint(ctx, declineFromPB(req)))
}

func (s *jobMasterServer) AwaitFinalCheckpoint(ctx context.Context, req *rpcpb.FinalCheckpointWanted) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.AwaitFinalCheckpoint(ctx, finalWantedFromPB(req)))
}
