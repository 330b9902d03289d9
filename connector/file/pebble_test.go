package file_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/state"
)

var runningCount = state.NewValue[int64]("count")

// TestPebbleCountsIntoFilesExactlyOnce is the exactly-once failure job on
// the Pebble state backend writing through the file sink: every record
// updates its key's count in Pebble and writes "key:count" to a part file;
// after the injected failures the committed files hold every count of
// every key exactly once — no line lost, none twice, none skipped.
func TestPebbleCountsIntoFilesExactlyOnce(t *testing.T) {
	const (
		n    = 12000
		keys = 6
	)
	dir := t.TempDir()
	f := &failures{attempts: 3, rng: rand.New(rand.NewPCG(3, 7)), lo: n / 10, hi: n / 5}
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleDir(t.TempDir()), freshet.PebbleIncremental(true))),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	counts := freshet.KeyedProcess(freshet.KeyBy(gen(env, n, 15000), func(v int64) int64 { return v % keys }),
		freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int64], _ int64, out freshet.Collector[string]) error {
			if err := f.check(ctx.Runtime().Attempt()); err != nil {
				return err
			}
			c := state.Value(ctx.State(), runningCount)
			k, _ := c.Value()
			c.Update(k + 1)
			out.Collect(strconv.FormatInt(ctx.CurrentKey(), 10) + ":" + strconv.FormatInt(k+1, 10))
			return nil
		})).UID("counts")
	freshet.SinkTo(counts, &file.Sink[string]{Dest: file.Dir(dir), Format: file.StringLines(),
		Rolling: file.RollingPolicy{MaxPartSize: 16 << 10}}, "files").UID("files")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "pebble-files")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if jc.Restarts() < 3 {
		t.Fatalf("restarted %d times, want 3", jc.Restarts())
	}
	seen := map[string]int{}
	for _, b := range visibleDir(t, dir) {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			seen[line]++
		}
	}
	for k := range keys {
		for c := 1; c <= n/keys; c++ {
			line := strconv.Itoa(k) + ":" + strconv.Itoa(c)
			if seen[line] != 1 {
				t.Fatalf("%q is in the files %d times, want once", line, seen[line])
			}
			delete(seen, line)
		}
	}
	if len(seen) != 0 {
		t.Fatalf("%d lines that should not be there, such as %v", len(seen), firstKey(seen))
	}
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}
