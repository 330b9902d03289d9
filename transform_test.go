package freshet_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
)

func execute(t *testing.T, env *freshet.Env) {
	t.Helper()
	if err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatalf("Execute: %v", err)
	}
}

func sorted[T cmp.Ordered](v []T) []T {
	v = slices.Clone(v)
	slices.Sort(v)
	return v
}

func ints(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = i
	}
	return v
}

func TestMapFilterFlatMapInOrder(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1))
	in := freshet.FromElements(env, "a b", "", "c", "d e f")
	words := freshet.FlatMap(in, func(line string, out freshet.Collector[string]) {
		for _, w := range strings.Fields(line) {
			out.Collect(w)
		}
	})
	upper := freshet.Map(words, strings.ToUpper).Filter(func(w string) bool { return w != "D" })
	got := freshet.Collect(upper)
	execute(t, env)
	if want := []string{"A", "B", "C", "E", "F"}; !slices.Equal(got.Values(), want) {
		t.Fatalf("got %v, want %v", got.Values(), want)
	}
}

func TestMapFilterParallel(t *testing.T) {
	for _, p := range []int{1, 3} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		in := freshet.FromSlice(env, ints(1000))
		sq := freshet.Map(in, func(v int) int { return v * v }).Filter(func(v int) bool { return v%2 == 0 })
		got := freshet.Collect(sq)
		execute(t, env)
		var want []int
		for i := 0; i < 1000; i += 2 {
			want = append(want, i*i)
		}
		if g := sorted(got.Values()); !slices.Equal(g, want) {
			t.Fatalf("p=%d: got %d values, want %d", p, len(g), len(want))
		}
	}
}

type tagged struct {
	From, To int
	V        int
}

// tag records which subtask of the upstream (by the value's position in
// the slice source) and of the downstream handled each value.
func tagStream(s *freshet.Stream[int], p int) *freshet.Stream[tagged] {
	return freshet.Process(s, freshet.ProcessFunc(func(ctx *freshet.Context, v int, out freshet.Collector[tagged]) error {
		out.Collect(tagged{To: ctx.Runtime().SubtaskIndex(), V: v})
		return nil
	})).SetParallelism(p)
}

// fromSubtask is the upstream subtask that reads v when FromSlice of n
// values runs at parallelism p (a contiguous n/p each).
func fromSubtask(v, n, p int) int {
	for i := 0; i < p; i++ {
		if v >= i*n/p && v < (i+1)*n/p {
			return i
		}
	}
	return -1
}

func partitionRun(t *testing.T, up, down, n int, part func(*freshet.Stream[int]) *freshet.Stream[int]) []tagged {
	t.Helper()
	env := freshet.NewEnv()
	src := freshet.FromSlice(env, ints(n)).SetParallelism(up)
	got := freshet.Collect(tagStream(part(src), down))
	execute(t, env)
	out := got.Values()
	for i := range out {
		out[i].From = fromSubtask(out[i].V, n, up)
	}
	if len(out) == 0 {
		t.Fatal("no output")
	}
	return out
}

func pairs(ts []tagged) map[[2]int]int {
	m := map[[2]int]int{}
	for _, x := range ts {
		m[[2]int{x.From, x.To}]++
	}
	return m
}

func TestForward(t *testing.T) {
	out := partitionRun(t, 3, 3, 300, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Forward() })
	for _, x := range out {
		if x.From != x.To {
			t.Fatalf("forward sent %d from subtask %d to %d", x.V, x.From, x.To)
		}
	}
}

func TestRebalanceSpreadsEvenly(t *testing.T) {
	out := partitionRun(t, 2, 4, 800, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Rebalance() })
	want := map[[2]int]int{}
	for f := 0; f < 2; f++ {
		for to := 0; to < 4; to++ {
			want[[2]int{f, to}] = 100
		}
	}
	if got := pairs(out); !mapsEqual(got, want) {
		t.Fatalf("rebalance counts %v, want %v", got, want)
	}
}

func TestRescaleFollowsFlinkPattern(t *testing.T) {
	// 2 -> 4: upstream 0 feeds 0 and 1, upstream 1 feeds 2 and 3, round robin.
	out := partitionRun(t, 2, 4, 400, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Rescale() })
	want := map[[2]int]int{{0, 0}: 100, {0, 1}: 100, {1, 2}: 100, {1, 3}: 100}
	if got := pairs(out); !mapsEqual(got, want) {
		t.Fatalf("rescale 2->4 %v, want %v", got, want)
	}
	// 4 -> 2: upstream 0 and 1 feed 0, upstream 2 and 3 feed 1.
	out = partitionRun(t, 4, 2, 400, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Rescale() })
	want = map[[2]int]int{{0, 0}: 100, {1, 0}: 100, {2, 1}: 100, {3, 1}: 100}
	if got := pairs(out); !mapsEqual(got, want) {
		t.Fatalf("rescale 4->2 %v, want %v", got, want)
	}
}

func TestBroadcastReachesEverySubtask(t *testing.T) {
	out := partitionRun(t, 2, 3, 50, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Broadcast() })
	seen := map[int][]int{}
	for _, x := range out {
		seen[x.To] = append(seen[x.To], x.V)
	}
	for to := 0; to < 3; to++ {
		if g := sorted(seen[to]); !slices.Equal(g, ints(50)) {
			t.Fatalf("subtask %d got %v, want all 50 values", to, g)
		}
	}
}

func TestGlobalReachesSubtaskZero(t *testing.T) {
	out := partitionRun(t, 3, 4, 90, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Global() })
	for _, x := range out {
		if x.To != 0 {
			t.Fatalf("global sent %d to subtask %d", x.V, x.To)
		}
	}
	if len(out) != 90 {
		t.Fatalf("got %d values, want 90", len(out))
	}
}

func TestShuffleDeliversEachOnce(t *testing.T) {
	out := partitionRun(t, 2, 3, 3000, func(s *freshet.Stream[int]) *freshet.Stream[int] { return s.Shuffle() })
	var vs []int
	counts := map[int]int{}
	for _, x := range out {
		vs = append(vs, x.V)
		counts[x.To]++
	}
	if !slices.Equal(sorted(vs), ints(3000)) {
		t.Fatal("shuffle lost or duplicated values")
	}
	for to := 0; to < 3; to++ {
		if counts[to] < 700 { // expected 1000; a uniform choice is far above this
			t.Fatalf("shuffle sent only %d of 3000 to subtask %d", counts[to], to)
		}
	}
}

func TestPartitionCustom(t *testing.T) {
	out := partitionRun(t, 2, 3, 300, func(s *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.PartitionCustom(s, func(k, n int) int { return k % n }, func(v int) int { return v / 10 })
	})
	for _, x := range out {
		if x.To != (x.V/10)%3 {
			t.Fatalf("custom partitioner sent %d to %d", x.V, x.To)
		}
	}
}

func TestPartitionCustomOutOfRangeFailsJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	s := freshet.PartitionCustom(freshet.FromSlice(env, ints(10)), func(k, n int) int { return n }, func(v int) int { return v })
	freshet.Collect(freshet.Map(s, func(v int) int { return v }))
	err := env.Execute(context.Background(), "bad partitioner")
	if err == nil || !strings.Contains(err.Error(), "custom partitioner") {
		t.Fatalf("Execute = %v, want custom partitioner error", err)
	}
}

func TestUnion(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	a := freshet.FromSlice(env, []int{1, 2, 3})
	b := freshet.FromSlice(env, []int{10, 20})
	c := freshet.Map(freshet.FromElements(env, 100), func(v int) int { return v })
	got := freshet.Collect(freshet.Map(a.Union(b, c), func(v int) int { return v + 1 }))
	execute(t, env)
	if want := []int{2, 3, 4, 11, 21, 101}; !slices.Equal(sorted(got.Values()), want) {
		t.Fatalf("union got %v, want %v", sorted(got.Values()), want)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// check fails the test on a harness error.
func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
