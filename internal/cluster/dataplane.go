package cluster

import (
	"fmt"
	"net"
	"time"

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

func newWorkerData(host, tm string, bufferTimeout time.Duration) (*workerData, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listening for data connections on %s: %w", host, err)
	}
	m, err := netx.NewManager(ln, netx.WithProcessID(tm), netx.WithBufferTimeout(bufferTimeout))
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting the data plane: %w", err)
	}
	return &workerData{m: m, NetworkDataPlane: taskmanager.NewNetworkDataPlane(m)}, nil
}

// Address is where the worker takes data connections.
func (w *workerData) Address() string { return w.m.Addr().String() }

// Close closes the worker's data connections.
func (w *workerData) Close() error { return w.m.Close() }
