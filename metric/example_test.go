package metric_test

import (
	"fmt"

	"github.com/freshet-io/freshet/metric"
)

// A reader registers its metrics once, updates them as it reads, and the
// runtime reads the group's values for the REST API and Prometheus.
func ExampleGroup() {
	g := metric.NewGroup() // the runtime's, from ReaderContext.Metrics()
	bytesRead, lag := g.Counter("bytesRead"), g.Gauge("lag")
	bytesRead.Add(512)
	bytesRead.Add(256)
	lag.Set(42)
	for _, v := range g.Values() {
		fmt.Println(v.Name, v.Kind, v.Value)
	}
	// Output:
	// bytesRead counter 768
	// lag gauge 42
}
