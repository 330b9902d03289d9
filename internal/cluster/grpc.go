package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/grpcrpc"
)

// dialTimeout bounds connecting to a peer that should be up.
var dialTimeout = 30 * time.Second

func dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return grpcrpc.Dial(ctx, addr)
}

func dialTaskExecutor(ctx context.Context, addr, id string) (rpc.TaskExecutorGateway, io.Closer, error) {
	cc, err := dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	return grpcrpc.NewTaskExecutorClient(cc, id, 0), cc, nil
}

func dialJobMaster(ctx context.Context, addr string) (rpc.JobManagerGateway, io.Closer, error) {
	cc, err := dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	return grpcrpc.NewJobMasterClient(cc), cc, nil
}

// controlClient is a connection to the JobManager process's services.
type controlClient struct {
	cc         *grpc.ClientConn
	rm         rpc.ResourceManagerGateway
	dispatcher rpc.DispatcherGateway
}

func dialControl(ctx context.Context, addr string) (*controlClient, error) {
	cc, err := dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("reaching the JobManager at %s: %w", addr, err)
	}
	return &controlClient{cc: cc, rm: grpcrpc.NewResourceManagerClient(cc), dispatcher: grpcrpc.NewDispatcherClient(cc)}, nil
}

func (c *controlClient) Close() { _ = c.cc.Close() }

// grpcServer is a running gRPC server.
type grpcServer struct{ s *grpc.Server }

func (g grpcServer) Close() error {
	done := make(chan struct{})
	go func() {
		g.s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.s.Stop()
	}
	return nil
}

func serve(addr string, register func(*grpc.Server)) (string, io.Closer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return serveOn(ln, register)
}

func serveOn(ln net.Listener, register func(*grpc.Server)) (string, io.Closer, error) {
	s := grpcrpc.NewServer()
	register(s)
	go func() { _ = s.Serve(ln) }()
	return ln.Addr().String(), grpcServer{s}, nil
}

func serveJobMaster(addr string, jm grpcrpc.JobMasterGateway) (string, io.Closer, error) {
	return serve(addr, func(s *grpc.Server) { grpcrpc.RegisterJobMasterServer(s, jm) })
}

func serveTaskExecutor(addr string, te rpc.TaskExecutorGateway) (string, io.Closer, error) {
	return serve(addr, func(s *grpc.Server) { grpcrpc.RegisterTaskExecutorServer(s, te) })
}

func serveControl(ln net.Listener, rm rpc.ResourceManagerGateway, d rpc.DispatcherGateway) (string, io.Closer, error) {
	return serveOn(ln, func(s *grpc.Server) {
		grpcrpc.RegisterResourceManagerServer(s, rm)
		grpcrpc.RegisterDispatcherServer(s, d)
	})
}
