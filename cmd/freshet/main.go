// Command freshet is Freshet's command-line tool. It runs benchmarks on
// the embedded runtime:
//
//	freshet bench nexmark --query q5 --events 10000000 --parallelism 2
//
// (see docs/nexmark.md), and manages jobs through the REST API:
//
//	freshet list
//	freshet savepoint JOB /savepoints
//	freshet stop --savepoint-path /savepoints JOB
//
// (see docs/rest.md for every command and the exit codes).
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
		os.Exit(exitCode(err))
	}
}

// newRootCmd returns the freshet command with its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "freshet",
		Short:         "Freshet's command-line tool",
		Long:          "Freshet's command-line tool.\n\n" + exitCodesHelp,
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
	addAPICommands(root)
	root.AddCommand(newJobManagerCmd(), newTaskManagerCmd(), newClusterCmd())
	return root
}
