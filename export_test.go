package freshet

import (
	"log/slog"
	"net"
	"time"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/exchange/netx"
	"github.com/freshet-io/freshet/internal/rest"
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

// AttachJob returns a client of job id of the cluster whose REST API is at
// address, as ExecuteAsync returns once it submitted the job there; Done
// gives the job up after its polls failed for lostAfter.
func AttachJob(address, id string, lostAfter time.Duration) *JobClient {
	r := newRemoteJob(rest.NewClient(address), id, slog.New(slog.DiscardHandler))
	r.lostAfter = lostAfter
	return &JobClient{h: r}
}
