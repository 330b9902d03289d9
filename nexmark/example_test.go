package nexmark_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/nexmark"
)

// Run Q5, hot items, over 20 s of event time (200,000 events) at
// parallelism 2, and print its last three results: the windows that end
// after the input has, holding its last seconds.
func ExampleQ5() {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	events, err := nexmark.Events(env, nexmark.GeneratorConfig{Events: 200_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	hot := freshet.Collect(nexmark.Q5(events))
	if err := env.Execute(context.Background(), "nexmark q5"); err != nil {
		fmt.Println(err)
		return
	}
	items := hot.Values()
	slices.SortFunc(items, func(a, b nexmark.AuctionCount) int {
		return cmp.Or(cmp.Compare(a.WindowEnd, b.WindowEnd), cmp.Compare(a.Auction, b.Auction))
	})
	for _, c := range items[len(items)-3:] {
		fmt.Printf("window ending %d: auction %d, %d bids\n", c.WindowEnd, c.Auction, c.Bids)
	}
	// Output:
	// window ending 1436918424000: auction 11400, 834 bids
	// window ending 1436918426000: auction 11400, 834 bids
	// window ending 1436918428000: auction 12500, 802 bids
}
