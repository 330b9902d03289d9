package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	osexec "os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet"
)

// The tests need a PostgreSQL server with max_prepared_transactions > 0;
// scripts/postgres.sh installs and starts one and prints these variables.
const (
	dsnVar      = "FRESHET_POSTGRES_DSN"
	no2pcDSNVar = "FRESHET_POSTGRES_NO2PC_DSN"
	howToEnable = `run eval "$(sh scripts/postgres.sh)" from the repository root (installs and starts PostgreSQL on 127.0.0.1:54329 and :54330)`
)

// dsn returns the test server's DSN, skipping the test when none is set.
func dsn(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: %s, or set it to a server's DSN", name, howToEnable)
	}
	return v
}

// pool connects to dsn for the test's own queries.
func pool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(ctx); err != nil {
		p.Close()
		t.Fatalf("connecting to %s (%s): %v", dsn, howToEnable, err)
	}
	t.Cleanup(p.Close)
	return p
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// newTable creates a table named after the test with the given columns,
// dropped when the test ends, and returns its name.
func newTable(t testing.TB, p *pgxpool.Pool, columns string) string {
	t.Helper()
	name := "t_" + strings.Trim(nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	drop := func() {
		// A job that failed for good leaves its prepared transactions
		// (their ids hold the table's name), whose locks would block
		// the DROP.
		rows, err := p.Query(context.Background(), "SELECT gid FROM pg_prepared_xacts WHERE strpos(gid, $1) > 0", name)
		if err != nil {
			t.Fatal(err)
		}
		gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gids {
			exec(t, p, "ROLLBACK PREPARED '"+g+"'")
		}
		exec(t, p, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
	drop()
	exec(t, p, "CREATE TABLE "+pgx.Identifier{name}.Sanitize()+" ("+columns+")")
	t.Cleanup(drop)
	return name
}

func exec(t testing.TB, p *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pairs reads the table's (k, v) rows ordered by k.
func pairs(t testing.TB, p *pgxpool.Pool, table string) [][2]int64 {
	t.Helper()
	rows, err := p.Query(context.Background(), "SELECT k, v FROM "+pgx.Identifier{table}.Sanitize()+" ORDER BY k, v")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
		var kv [2]int64
		err := r.Scan(&kv[0], &kv[1])
		return kv, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// prepared lists the prepared transactions whose ids start with prefix.
func prepared(t testing.TB, p *pgxpool.Pool, prefix string) []string {
	t.Helper()
	rows, err := p.Query(context.Background(), "SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1) ORDER BY gid", prefix)
	if err != nil {
		t.Fatal(err)
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return gids
}

func quietEnv(opts ...freshet.Option) *freshet.Env {
	return freshet.NewEnv(append([]freshet.Option{freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

// failingEnv checkpoints every 20 ms and restarts up to 20 times.
func failingEnv(t testing.TB, opts ...freshet.Option) *freshet.Env {
	return quietEnv(append([]freshet.Option{
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 5*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())),
	}, opts...)...)
}

func execute(t testing.TB, env *freshet.Env, name string) *freshet.JobClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	jc, err := env.ExecuteAsync(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return jc
}

var errInjected = errors.New("injected failure")

// injector fails each of a job's first attempts once, at a record chosen
// at random among the first ones that attempt sees after one of its
// checkpoints has completed, so that every attempt makes progress.
type injector struct {
	failures int
	at       []int64 // per attempt: fail at the first record past this count once armed
	seen     []atomic.Int64
	armed    atomic.Bool
	failed   atomic.Int32
	wg       sync.WaitGroup
}

func newInjector(t testing.TB, failures int, maxAt int64) *injector {
	f := &injector{failures: failures, at: make([]int64, failures), seen: make([]atomic.Int64, failures+1)}
	for i := range f.at {
		f.at[i] = rand.Int64N(maxAt) + 1
	}
	t.Logf("failing attempts 0..%d past records %v", failures-1, f.at)
	return f
}

// check is called for every record of attempt; it slows the attempts
// that are to fail so that checkpoints complete mid-input.
func (f *injector) check(attempt int) error {
	a := min(attempt, f.failures)
	if a == f.failures {
		return nil
	}
	time.Sleep(100 * time.Microsecond)
	if f.seen[a].Add(1) > f.at[a] && f.armed.Load() && f.failed.CompareAndSwap(int32(a), int32(a+1)) {
		f.armed.Store(false)
		return fmt.Errorf("attempt %d: %w", a, errInjected)
	}
	return nil
}

// watch arms the failure of the current attempt once it has completed a
// checkpoint, until the job ends; wait waits for it.
func (f *injector) watch(jc *freshet.JobClient) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var last int64
		for {
			select {
			case <-jc.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
			if c, ok := jc.LatestCheckpoint(); ok && c.ID > last && int(f.failed.Load()) == jc.Restarts() {
				last = c.ID
				f.armed.Store(true)
			}
		}
	}()
}

// wait waits for the job and checks that it failed as planned.
func (f *injector) wait(t testing.TB, jc *freshet.JobClient) {
	t.Helper()
	err := jc.Wait()
	f.wg.Wait()
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); int(got) != f.failures || jc.Restarts() != f.failures {
		t.Fatalf("%d injected failures, %d restarts; want %d", got, jc.Restarts(), f.failures)
	}
}

// restarter returns a function that restarts the server of
// FRESHET_POSTGRES_DATA (scripts/postgres.sh sets it) and resets p's
// connections, or nil when the variables are not set.
func restarter(p *pgxpool.Pool) func(t *testing.T) {
	data, bin := os.Getenv("FRESHET_POSTGRES_DATA"), os.Getenv("FRESHET_POSTGRES_BIN")
	if data == "" || bin == "" {
		return nil
	}
	return func(t *testing.T) {
		// The server logs to a file: with our pipes it would keep
		// CombinedOutput waiting.
		args := []string{bin + "/pg_ctl", "-D", data, "-l", data + "/server.log", "-m", "fast", "-w", "-t", "60", "restart"}
		if os.Geteuid() == 0 {
			args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
		}
		cmd := osexec.Command(args[0], args[1:]...)
		cmd.Dir = os.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("restarting postgres: %v\n%s", err, out)
		}
		p.Reset()
	}
}
