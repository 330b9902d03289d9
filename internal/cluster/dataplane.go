package cluster

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/freshet-io/freshet/internal/config"
	"github.com/freshet-io/freshet/internal/exchange/netx"
	"github.com/freshet-io/freshet/internal/taskmanager"
)

// workerData is a worker's side of the network data plane: a netx
// Manager listening on the TaskManager's host, whose connections carry
// the channels between the worker's subtasks and those of the job's
// other workers.
type workerData struct {
	m *netx.Manager
	*taskmanager.NetworkDataPlane
}

func newWorkerData(host, tm string, bufferTimeout time.Duration, n NetworkConfig) (*workerData, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(n.DataPort)))
	if err != nil {
		return nil, fmt.Errorf("listening for data connections on %s (taskmanager.data.port %d): %w", host, n.DataPort, err)
	}
	opts := []netx.Option{netx.WithProcessID(tm), netx.WithBufferTimeout(bufferTimeout)}
	if n.SegmentSize > 0 {
		// A frame holds a buffer and its header.
		opts = append(opts, netx.WithBufferSize(int(n.SegmentSize)), netx.WithMaxFrameSize(max(netx.DefaultMaxFrameSize, int(n.SegmentSize)+64<<10)))
	}
	if n.BuffersPerChannel > 0 {
		opts = append(opts, netx.WithBuffers(n.BuffersPerChannel))
	}
	m, err := netx.NewManager(ln, opts...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting the data plane: %w", err)
	}
	return &workerData{m: m, NetworkDataPlane: taskmanager.NewNetworkDataPlane(m)}, nil
}

// networkFromEnv reads a worker's data plane settings, which its
// TaskManager passes as the environment variables of their keys.
func networkFromEnv() (NetworkConfig, error) {
	cfg := config.Default()
	if err := cfg.LoadEnv(os.LookupEnv); err != nil {
		return NetworkConfig{}, err
	}
	return NetworkConfig{DataPort: cfg.DataPort, SegmentSize: cfg.SegmentSize, BuffersPerChannel: cfg.BuffersPerChannel}, nil
}

// Address is where the worker takes data connections.
func (w *workerData) Address() string { return w.m.Addr().String() }

// Close closes the worker's data connections.
func (w *workerData) Close() error { return w.m.Close() }
