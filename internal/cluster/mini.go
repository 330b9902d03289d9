// Package cluster assembles a JobManager and TaskManagers. The embedded mini
// cluster runs them in this process, joined by direct calls through the rpc
// gateways — the same components a distributed cluster runs.
package cluster

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/exchange"
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
}

// Mini is a JobManager and TaskManagers in one process.
type Mini struct {
	JM  *jobmanager.JobManager
	TMs []*taskmanager.TaskManager
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
	data := taskmanager.NewLocalDataPlane()
	m := &Mini{JM: jm}
	for i := range cfg.TaskManagers {
		id := fmt.Sprintf("tm-%d", i)
		reg := exchange.NewRegistry()
		data.Add(id, reg)
		tm := taskmanager.New(taskmanager.Config{ID: id, Slots: cfg.SlotsPerTM, GateCapacity: cfg.GateCapacity, Logger: cfg.Logger,
			Graphs: graphs, Storages: storages, Errors: errs, DataPlane: data, Metrics: cfg.Metrics}, jm, reg)
		if err := jm.RegisterTaskManager(context.Background(), tm); err != nil {
			return nil, err
		}
		m.TMs = append(m.TMs, tm)
	}
	return m, nil
}

// Close stops every TaskManager and waits for their subtasks.
func (m *Mini) Close() error {
	for _, tm := range m.TMs {
		_ = tm.Close()
	}
	return nil
}
