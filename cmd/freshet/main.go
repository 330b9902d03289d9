// Command freshet is Freshet's command-line tool. For now it runs
// benchmarks on the embedded runtime:
//
//	freshet bench nexmark --query q5 --events 10000000 --parallelism 2
//
// See docs/nexmark.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "freshet:", err)
		os.Exit(1)
	}
}

// newRootCmd returns the freshet command with its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "freshet",
		Short:         "Freshet's command-line tool",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Run benchmarks on the embedded runtime",
		Args:  cobra.NoArgs,
	}
	bench.AddCommand(newNexmarkCmd(), newChartCmd())
	root.AddCommand(bench)
	return root
}
