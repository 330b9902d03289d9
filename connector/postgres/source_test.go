package postgres_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/postgres"
	"github.com/freshet-io/freshet/state"
)

type item struct {
	ID    int64
	Name  string
	Price int64
}

// fillItems inserts items 1 … n, where item i costs i cents.
func fillItems(t *testing.T, n int) (string, string) {
	t.Helper()
	d := dsn(t, dsnVar)
	p := pool(t, d)
	tbl := newTable(t, p, "id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL")
	exec(t, p, "INSERT INTO "+tbl+" SELECT i, 'item-' || i, i FROM generate_series(1, $1) AS i", n)
	return d, tbl
}

// TestSourceReadsEveryRowOnce reads a table with the bounds inside and
// outside its ids: exactly the rows within the bounds arrive, once.
func TestSourceReadsEveryRowOnce(t *testing.T) {
	d, tbl := fillItems(t, 1000)
	cases := []struct {
		name         string
		lower, upper int64
		splits       int
		first, last  int64
	}{
		{"exact", 1, 1000, 3, 1, 1000},
		{"wider", -50, 5000, 4, 1, 1000},
		{"inner", 100, 199, 7, 100, 199},
		{"all of int64", math.MinInt64, math.MaxInt64, 5, 1, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := quietEnv(freshet.WithParallelism(2))
			got := freshet.Collect(freshet.FromSource(env, &postgres.Source[item]{
				DSN: d, Query: "SELECT id, name, price FROM " + tbl, Column: "id",
				Lower: tc.lower, Upper: tc.upper, Splits: tc.splits, FetchSize: 64,
				Row: pgx.RowToStructByName[item],
			}, "postgres"))
			if err := execute(t, env, "scan").Wait(); err != nil {
				t.Fatal(err)
			}
			seen := map[int64]int{}
			for _, it := range got.Values() {
				if it.Name != fmt.Sprintf("item-%d", it.ID) || it.Price != it.ID {
					t.Fatalf("read %+v", it)
				}
				seen[it.ID]++
			}
			for id := tc.first; id <= tc.last; id++ {
				if seen[id] != 1 {
					t.Fatalf("item %d read %d times", id, seen[id])
				}
			}
			if want := int(tc.last - tc.first + 1); len(got.Values()) != want {
				t.Fatalf("read %d rows, want %d", len(got.Values()), want)
			}
		})
	}
}

var (
	sumState = state.NewValue[int64]("sum")
	nState   = state.NewValue[int64]("n")
)

type keySum struct{ K, Sum, N int64 }

// TestSourceRestoreResumesExactly sums the prices of a table's rows per
// key in keyed state at parallelism 2, failing the first attempts after
// checkpoints: the totals are the table's, so restored readers resumed
// their ranges where the checkpoints said, losing and repeating no row.
func TestSourceRestoreResumesExactly(t *testing.T) {
	const n, keys = 5000, 7
	d, tbl := fillItems(t, n)
	f := newInjector(t, 3, 800)
	env := failingEnv(t, freshet.WithParallelism(2))
	items := freshet.FromSource(env, &postgres.Source[item]{
		DSN: d, Query: "SELECT id, name, price FROM " + tbl, Column: "id",
		Lower: 1, Upper: n, Splits: 5, FetchSize: 50, Row: pgx.RowToStructByName[item],
	}, "postgres").UID("postgres")
	checked := freshet.Process(items, freshet.ProcessFunc(func(ctx *freshet.Context, v item, out freshet.Collector[item]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	})).UID("check")
	sums := freshet.KeyedProcess(freshet.KeyBy(checked, func(v item) int64 { return v.ID % keys }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int64], v item, _ freshet.Collector[keySum]) error {
				sum, cnt := state.Value(ctx.State(), sumState), state.Value(ctx.State(), nState)
				s, _ := sum.Value()
				c, _ := cnt.Value()
				if c == 0 {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				sum.Update(s + v.Price)
				cnt.Update(c + 1)
				return nil
			},
			func(ctx *freshet.KeyedContext[int64], _ int64, out freshet.Collector[keySum]) error {
				s, _ := state.Value(ctx.State(), sumState).Value()
				c, _ := state.Value(ctx.State(), nState).Value()
				out.Collect(keySum{K: ctx.CurrentKey(), Sum: s, N: c})
				return nil
			})).UID("sums")
	out := &connectortest.Attempts[keySum]{}
	freshet.SinkTo(sums, out, "sums")
	jc := execute(t, env, "restore")
	f.watch(jc)
	f.wait(t, jc)
	want := map[int64]keySum{}
	for i := int64(1); i <= n; i++ {
		k := want[i%keys]
		k.K, k.Sum, k.N = i%keys, k.Sum+i, k.N+1
		want[i%keys] = k
	}
	got := connectortest.LastByKey(out, func(v keySum) int64 { return v.K })
	if len(got) != keys {
		t.Fatalf("totals for %d keys, want %d", len(got), keys)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("key %d: got %+v, want %+v", k, got[k], w)
		}
	}
}
