// Package cluster assembles a JobManager and TaskManagers. The embedded mini
// cluster runs them in this process, joined by direct calls through the rpc
// gateways — the same components a distributed cluster runs.
package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/exchange/netx"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/taskmanager"
)

// MiniConfig configures an embedded cluster.
type MiniConfig struct {
	// Logger is given to the JobManager and every TaskManager; nil means
	// slog.Default().
	Logger       *slog.Logger
	TaskManagers int
	SlotsPerTM   int
	GateCapacity int
	// Metrics receives the counters of every TaskManager's subtasks; nil
	// gives each TaskManager a registry of its own.
	Metrics *metrics.Registry
	// Network, when set, joins the TaskManagers over TCP, as the workers
	// of a distributed cluster are joined; nil joins them in memory
	// (taskmanager.LocalDataPlane).
	Network *MiniNetwork
}

// MiniNetwork joins the TaskManagers of an embedded cluster through netx:
// each has a netx.Manager of its own (named by the TaskManager's id in
// handshakes and errors) listening on loopback, and every deployment
// gives the data addresses of its consumers' TaskManagers.
type MiniNetwork struct {
	// Options are given to every TaskManager's netx.Manager.
	Options []netx.Option
	// Listen returns the listener of TaskManager tm's Manager, whose
	// address the deployments give; nil listens on 127.0.0.1:0.
	Listen func(tm string) (net.Listener, error)
}

// Mini is a JobManager and TaskManagers in one process.
type Mini struct {
	JM  *jobmanager.JobManager
	TMs []*taskmanager.TaskManager
	// Managers are the TaskManagers' network managers, in the order of
	// TMs; nil without MiniConfig.Network.
	Managers []*netx.Manager
}

// NewMini starts an embedded cluster.
func NewMini(cfg MiniConfig) (*Mini, error) {
	if cfg.TaskManagers < 1 {
		cfg.TaskManagers = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// What the JobManager and TaskManagers of this process share: the job
	// graphs and open checkpoint storages their messages refer to, and
	// the original errors behind the serialized ones.
	graphs, storages, errs := graph.NewRegistry(), storage.NewRegistry(), rpc.NewErrorTable()
	jm := jobmanager.New(jobmanager.Config{Logger: cfg.Logger, Graphs: graphs, Storages: storages, Errors: errs})
	// Each TaskManager has its own gates; between TaskManagers records
	// pass encoded, as they would over the network.
	local := taskmanager.NewLocalDataPlane()
	m := &Mini{JM: jm}
	ids := make([]string, cfg.TaskManagers)
	planes := make([]taskmanager.DataPlane, cfg.TaskManagers)
	addrs := map[string]string{}
	for i := range ids {
		ids[i] = fmt.Sprintf("tm-%d", i)
		planes[i] = local
		if cfg.Network == nil {
			continue
		}
		nm, err := cfg.Network.manager(ids[i])
		if err != nil {
			_ = m.Close()
			return nil, err
		}
		m.Managers = append(m.Managers, nm)
		planes[i], addrs[ids[i]] = taskmanager.NewNetworkDataPlane(nm), nm.Addr().String()
	}
	for i, id := range ids {
		reg := exchange.NewRegistry()
		local.Add(id, reg)
		tm := taskmanager.New(taskmanager.Config{ID: id, Slots: cfg.SlotsPerTM, GateCapacity: cfg.GateCapacity, Logger: cfg.Logger,
			Graphs: graphs, Storages: storages, Errors: errs, DataPlane: planes[i], Metrics: cfg.Metrics}, jm, reg)
		m.TMs = append(m.TMs, tm)
		var gw rpc.TaskManagerGateway = tm
		if cfg.Network != nil {
			gw = addressing{TaskManager: tm, addrs: addrs}
		}
		if err := jm.RegisterTaskManager(context.Background(), gw); err != nil {
			_ = m.Close()
			return nil, err
		}
	}
	return m, nil
}

// manager starts TaskManager tm's network manager.
func (n *MiniNetwork) manager(tm string) (*netx.Manager, error) {
	listen := n.Listen
	if listen == nil {
		listen = func(string) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	}
	ln, err := listen(tm)
	if err != nil {
		return nil, fmt.Errorf("listening for the data connections of TaskManager %s: %w", tm, err)
	}
	nm, err := netx.NewManager(ln, append([]netx.Option{netx.WithProcessID(tm)}, n.Options...)...)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting the network of TaskManager %s: %w", tm, err)
	}
	return nm, nil
}

// addressing is a TaskManager whose deployments give the data addresses
// of their consumers' TaskManagers, as a job master gives those of the
// workers it started.
type addressing struct {
	*taskmanager.TaskManager
	addrs map[string]string // by TaskManager
}

// SubmitTask implements rpc.TaskManagerGateway.
func (a addressing) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	if d.DataAddresses == nil {
		d.DataAddresses = map[string]string{}
		for _, c := range d.Consumers {
			if addr, ok := a.addrs[c.TaskManager]; ok {
				d.DataAddresses[c.TaskManager] = addr
			}
		}
	}
	return a.TaskManager.SubmitTask(ctx, d)
}

// Close stops every TaskManager and waits for their subtasks, then closes
// their network managers.
func (m *Mini) Close() error {
	for _, tm := range m.TMs {
		_ = tm.Close()
	}
	for _, nm := range m.Managers {
		_ = nm.Close()
	}
	return nil
}
