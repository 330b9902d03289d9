package freshet

import (
	"net"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/exchange/netx"
)

// WithTestNetwork is WithNetworkDataPlane with each TaskManager's
// listener from listen (nil: 127.0.0.1:0) and opts given to every
// network manager, for tests that tamper with the connections.
func WithTestNetwork(listen func(tm string) (net.Listener, error), opts ...netx.Option) Option {
	return func(c *config) error {
		c.network = &cluster.MiniNetwork{Listen: listen, Options: opts}
		return nil
	}
}
