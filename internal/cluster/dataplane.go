package cluster

import (
	"context"
	"fmt"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/taskmanager"
)

// workerDataPlane is a worker's side of the network data plane.
type workerDataPlane interface {
	taskmanager.DataPlane
	// Address is where the worker takes data connections.
	Address() string
	// SetAddresses learns where other TaskManagers' workers take them.
	SetAddresses(map[string]string)
	Close() error
}

func newDataPlane(host string) (workerDataPlane, error) { return noDataPlane{}, nil }

type noDataPlane struct{}

func (noDataPlane) Channel(_ context.Context, tm string, key exchange.GateKey, _ int) (exchange.ChannelWriter, error) {
	return nil, fmt.Errorf("reaching gate %s in TaskManager %s: no network data plane", key, tm)
}
func (noDataPlane) Address() string                { return "" }
func (noDataPlane) SetAddresses(map[string]string) {}
func (noDataPlane) Close() error                   { return nil }
