package grpcrpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// NewTaskExecutorClient returns the TaskExecutor service at cc as an
// rpc.TaskExecutorGateway. id and slots are what ID and Slots return: the
// TaskManager's registration told them, and they are not asked for.
func NewTaskExecutorClient(cc grpc.ClientConnInterface, id string, slots int) rpc.TaskExecutorGateway {
	return &taskExecutorClient{peer: newPeer(cc), c: rpcpb.NewTaskExecutorClient(cc), id: id, slots: slots}
}

type taskExecutorClient struct {
	peer
	c     rpcpb.TaskExecutorClient
	id    string
	slots int
}

func (t *taskExecutorClient) ID() string { return t.id }

func (t *taskExecutorClient) Slots() int { return t.slots }

func (t *taskExecutorClient) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	_, err := t.c.SubmitTask(ctx, deploymentToPB(d))
	return t.err(ctx, "TaskExecutor.SubmitTask", err)
}

func (t *taskExecutorClient) CancelJob(ctx context.Context, job rpc.JobID) error {
	_, err := t.c.CancelJob(ctx, &rpcpb.CancelJobRequest{Job: string(job)})
	return t.err(ctx, "TaskExecutor.CancelJob", err)
}

func (t *taskExecutorClient) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	_, err := t.c.SendOperatorEvent(ctx, &rpcpb.SendOperatorEventRequest{Exec: execToPB(exec), Event: event})
	return t.err(ctx, "TaskExecutor.SendOperatorEvent", err)
}

func (t *taskExecutorClient) TriggerCheckpoint(ctx context.Context, exec rpc.ExecutionID, id int64, opts rpc.TriggerOptions) error {
	_, err := t.c.TriggerCheckpoint(ctx, &rpcpb.TriggerCheckpointRequest{Exec: execToPB(exec), Id: id, Options: triggerOptionsToPB(opts)})
	return t.err(ctx, "TaskExecutor.TriggerCheckpoint", err)
}

func (t *taskExecutorClient) NotifyCheckpoint(ctx context.Context, job rpc.JobID, attempt int, id int64, complete bool) error {
	_, err := t.c.NotifyCheckpoint(ctx, &rpcpb.NotifyCheckpointRequest{Job: string(job), Attempt: int64(attempt), Id: id, Complete: complete})
	return t.err(ctx, "TaskExecutor.NotifyCheckpoint", err)
}

func (t *taskExecutorClient) StartJob(ctx context.Context, s rpc.JobStart) (rpc.Worker, error) {
	w, err := t.c.StartJob(ctx, jobStartToPB(s))
	if err != nil {
		return rpc.Worker{}, t.err(ctx, "TaskExecutor.StartJob", err)
	}
	return workerFromPB(w), nil
}

func (t *taskExecutorClient) Heartbeat(ctx context.Context, job rpc.JobID) error {
	_, err := t.c.Heartbeat(ctx, &rpcpb.HeartbeatRequest{Job: string(job)})
	return t.err(ctx, "TaskExecutor.Heartbeat", err)
}

// RegisterTaskExecutorServer serves impl as the TaskExecutor service on s
// (a *grpc.Server, such as NewServer's).
func RegisterTaskExecutorServer(s grpc.ServiceRegistrar, impl rpc.TaskExecutorGateway) {
	rpcpb.RegisterTaskExecutorServer(s, &taskExecutorServer{impl: impl})
}

type taskExecutorServer struct {
	rpcpb.UnimplementedTaskExecutorServer
	impl rpc.TaskExecutorGateway
}

func (s *taskExecutorServer) SubmitTask(ctx context.Context, req *rpcpb.TaskDeployment) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.SubmitTask(ctx, deploymentFromPB(req)))
}

func (s *taskExecutorServer) CancelJob(ctx context.Context, req *rpcpb.CancelJobRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.CancelJob(ctx, rpc.JobID(req.GetJob())))
}

func (s *taskExecutorServer) SendOperatorEvent(ctx context.Context, req *rpcpb.SendOperatorEventRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.SendOperatorEvent(ctx, execFromPB(req.GetExec()), req.GetEvent()))
}

func (s *taskExecutorServer) TriggerCheckpoint(ctx context.Context, req *rpcpb.TriggerCheckpointRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.TriggerCheckpoint(ctx, execFromPB(req.GetExec()), req.GetId(), triggerOptionsFromPB(req.GetOptions())))
}

func (s *taskExecutorServer) NotifyCheckpoint(ctx context.Context, req *rpcpb.NotifyCheckpointRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.NotifyCheckpoint(ctx, rpc.JobID(req.GetJob()), int(req.GetAttempt()), req.GetId(), req.GetComplete()))
}

func (s *taskExecutorServer) StartJob(ctx context.Context, req *rpcpb.JobStart) (*rpcpb.Worker, error) {
	w, err := s.impl.StartJob(ctx, jobStartFromPB(req))
	if err != nil {
		return nil, statusOf(err)
	}
	return workerToPB(w), nil
}

func (s *taskExecutorServer) Heartbeat(ctx context.Context, req *rpcpb.HeartbeatRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, statusOf(s.impl.Heartbeat(ctx, rpc.JobID(req.GetJob())))
}
