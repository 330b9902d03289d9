// Command stuck runs a job whose map function stops responding, as user
// code that ignores its cancellation: each subtask, at its first record,
// creates a file in --marks and then blocks for ever on a channel nobody
// closes, looking at no context.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

func main() {
	marks := flag.String("marks", "", "the directory where each blocked subtask leaves a file (required)")
	flag.Parse()
	if *marks == "" {
		fmt.Fprintln(os.Stderr, "stuck: --marks is required")
		os.Exit(2)
	}
	never := make(chan struct{})
	env := freshet.NewEnv()
	events := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(100)), "events")
	freshet.Map(events, func(i int64) int64 {
		if f, err := os.CreateTemp(*marks, "blocked-"); err == nil {
			f.Close()
		}
		<-never
		return i
	}).Print()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := env.Execute(ctx, "stuck"); err != nil {
		fmt.Fprintln(os.Stderr, "stuck:", err)
		os.Exit(1)
	}
}
