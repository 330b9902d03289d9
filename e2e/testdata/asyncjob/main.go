// Command asyncjob submits itself with ExecuteAsync to the cluster named by
// FRESHET_JOBMANAGER and drives its job through the JobClient, printing
// what it sees: with --mode cancel it waits for a checkpoint, takes a
// savepoint into --savepoints, cancels the job and waits for it; with
// stop it stops the job with a savepoint; with fail the job fails at tick
// 500 and does not restart; with wait it waits for the job to end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

func main() {
	mode := flag.String("mode", "cancel", "cancel, stop, fail or wait")
	savepoints := flag.String("savepoints", "", "the directory of savepoints")
	flag.Parse()
	env := freshet.NewEnv(freshet.WithCheckpointing(200*time.Millisecond), freshet.WithRestartStrategy(freshet.NoRestart()))
	ticks := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(1000)), "ticks").UID("ticks")
	checked := freshet.Process(ticks, freshet.ProcessFunc(func(_ *freshet.Context, v int64, out freshet.Collector[int64]) error {
		if *mode == "fail" && v == 500 {
			return errors.New("tick 500 is bad")
		}
		out.Collect(v)
		return nil
	})).Name("check").UID("check")
	freshet.Collect(checked)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "asyncjob")
	if err != nil {
		fail(err)
	}
	fmt.Println("job", jc.ID())
	// What the output shows of an error: the job and the cluster's
	// address vary.
	show := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		s, _, _ := strings.Cut(err.Error(), "\n")
		s = strings.ReplaceAll(s, jc.ID(), "JOB")
		return strings.ReplaceAll(s, os.Getenv(freshet.EnvJobManager), "ADDRESS")
	}
	if *mode == "fail" || *mode == "wait" {
		err := jc.Wait()
		fmt.Println("wait:", show(err))
		fmt.Println("not finished:", errors.Is(err, freshet.ErrJobNotFinished))
		fmt.Println("status:", jc.Status())
		return
	}
	until("the job to run", func() bool { return jc.Status() == freshet.JobRunning })
	fmt.Println("status:", jc.Status())
	until("a checkpoint", func() bool { _, ok := jc.LatestCheckpoint(); return ok })
	latest, _ := jc.LatestCheckpoint()
	fmt.Println("checkpoint:", latest.Status, latest.Path)
	if *mode == "stop" {
		sp, err := jc.StopWithSavepoint(ctx, *savepoints, false)
		if err != nil {
			fail(err)
		}
		fmt.Println("stopped with savepoint:", sp)
	} else {
		sp, err := jc.TriggerSavepoint(ctx, *savepoints)
		if err != nil {
			fail(err)
		}
		fmt.Println("savepoint:", sp)
		// The savepoint is a checkpoint of the job: it is listed with
		// the job's others.
		id := sp[strings.LastIndex(sp, "/chk-")+len("/chk-"):]
		for _, c := range jc.Checkpoints() {
			if strconv.FormatInt(c.ID, 10) == id {
				fmt.Println("listed:", c.Status, "savepoint:", c.Savepoint)
			}
		}
		jc.Cancel()
	}
	fmt.Println("wait:", show(jc.Wait()))
	fmt.Println("status:", jc.Status(), "restarts:", jc.Restarts())
	_, err = jc.TriggerSavepoint(ctx, *savepoints)
	fmt.Println("savepoint once ended:", errors.Is(err, freshet.ErrNoSavepoint))
}

// until polls cond for at most a minute.
func until(what string, cond func() bool) {
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("timed out waiting for %s", what))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "asyncjob:", err)
	os.Exit(1)
}
