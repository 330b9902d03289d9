package freshet_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/keygroup"
)

type reading struct {
	ID   string
	Seq  int
	Temp float64
}

func TestKeyByMatchesFlinkKeyGroupAssignment(t *testing.T) {
	for _, p := range []int{1, 3, 4} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		var keys []string
		for i := 0; i < 500; i++ {
			keys = append(keys, "key-"+strconv.Itoa(i%97))
		}
		keyed := freshet.KeyBy(freshet.FromSlice(env, keys), func(k string) string { return k })
		got := freshet.Collect(freshet.KeyedProcess(keyed, freshet.KeyedProcessFunc(
			func(ctx *freshet.KeyedContext[string], v string, out freshet.Collector[[2]string]) error {
				out.Collect([2]string{v, strconv.Itoa(ctx.Runtime().SubtaskIndex())})
				return nil
			})))
		execute(t, env)
		if len(got.Values()) != 500 {
			t.Fatalf("p=%d: got %d records, want 500", p, len(got.Values()))
		}
		for _, kv := range got.Values() {
			// Flink: murmurHash(key.hashCode()) % 128, then kg * p / 128.
			kg := keygroup.ForHash(keygroup.StringHash(kv[0]), 128)
			want := kg * p / 128
			if kv[1] != strconv.Itoa(want) {
				t.Fatalf("p=%d: key %s (key group %d) went to subtask %s, want %d", p, kv[0], kg, kv[1], want)
			}
		}
	}
}

func TestKeyByIntKeysMatchFlink(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithMaxParallelism(10))
	keyed := freshet.KeyBy(freshet.FromSlice(env, ints(200)), func(v int) int32 { return int32(v % 20) })
	got := freshet.Collect(freshet.KeyedProcess(keyed, freshet.KeyedProcessFunc(
		func(ctx *freshet.KeyedContext[int32], v int, out freshet.Collector[[2]int]) error {
			out.Collect([2]int{int(ctx.CurrentKey()), ctx.Runtime().SubtaskIndex()})
			return nil
		})))
	execute(t, env)
	for _, kv := range got.Values() {
		// Integer.hashCode is the value itself.
		kg := int(keygroup.Murmur(int32(kv[0]))) % 10
		if want := kg * 2 / 10; kv[1] != want {
			t.Fatalf("key %d went to subtask %d, want %d", kv[0], kv[1], want)
		}
	}
}

// perKey groups the output by key, keeping each key's order.
func perKey[T any](vs []T, key func(T) string) map[string][]T {
	m := map[string][]T{}
	for _, v := range vs {
		m[key(v)] = append(m[key(v)], v)
	}
	return m
}

func rollingInput() []reading {
	return []reading{
		{"a", 1, 5}, {"b", 2, 9}, {"a", 3, 3}, {"a", 4, 7}, {"b", 5, 9}, {"a", 6, 3}, {"b", 7, 1},
	}
}

func runRolling(t *testing.T, p int, agg func(*freshet.KeyedStream[reading, string]) *freshet.Stream[reading]) map[string][]reading {
	t.Helper()
	env := freshet.NewEnv(freshet.WithParallelism(p))
	// One source subtask keeps each key's input order, so each key's
	// running results are exact at any downstream parallelism.
	in := freshet.FromElements(env, rollingInput()...)
	got := freshet.Collect(agg(freshet.KeyBy(in, func(r reading) string { return r.ID })))
	execute(t, env)
	return perKey(got.Values(), func(r reading) string { return r.ID })
}

func TestRollingAggregationsFlinkSemantics(t *testing.T) {
	temp := freshet.FieldOf[reading, float64]("Temp")
	cases := []struct {
		name string
		agg  func(*freshet.KeyedStream[reading, string]) *freshet.Stream[reading]
		want map[string][]reading
	}{
		{"sum", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] { return freshet.Sum(k, temp) },
			map[string][]reading{
				"a": {{"a", 1, 5}, {"a", 1, 8}, {"a", 1, 15}, {"a", 1, 18}},
				"b": {{"b", 2, 9}, {"b", 2, 18}, {"b", 2, 19}},
			}},
		// Min keeps the first element's other fields and updates only Temp.
		{"min", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] { return freshet.Min(k, temp) },
			map[string][]reading{
				"a": {{"a", 1, 5}, {"a", 1, 3}, {"a", 1, 3}, {"a", 1, 3}},
				"b": {{"b", 2, 9}, {"b", 2, 9}, {"b", 2, 1}},
			}},
		// MinBy emits the whole element holding the minimum; ties keep the first.
		{"minBy", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] { return freshet.MinBy(k, temp) },
			map[string][]reading{
				"a": {{"a", 1, 5}, {"a", 3, 3}, {"a", 3, 3}, {"a", 3, 3}},
				"b": {{"b", 2, 9}, {"b", 2, 9}, {"b", 7, 1}},
			}},
		{"max", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] { return freshet.Max(k, temp) },
			map[string][]reading{
				"a": {{"a", 1, 5}, {"a", 1, 5}, {"a", 1, 7}, {"a", 1, 7}},
				"b": {{"b", 2, 9}, {"b", 2, 9}, {"b", 2, 9}},
			}},
		{"maxBy", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] { return freshet.MaxBy(k, temp) },
			map[string][]reading{
				"a": {{"a", 1, 5}, {"a", 1, 5}, {"a", 4, 7}, {"a", 4, 7}},
				"b": {{"b", 2, 9}, {"b", 2, 9}, {"b", 2, 9}},
			}},
		{"reduce", func(k *freshet.KeyedStream[reading, string]) *freshet.Stream[reading] {
			return freshet.Reduce(k, func(acc, v reading) reading { acc.Seq = v.Seq; acc.Temp += v.Temp * 10; return acc })
		}, map[string][]reading{
			"a": {{"a", 1, 5}, {"a", 3, 35}, {"a", 4, 105}, {"a", 6, 135}},
			"b": {{"b", 2, 9}, {"b", 5, 99}, {"b", 7, 109}},
		}},
	}
	for _, c := range cases {
		for _, p := range []int{1, 2} {
			got := runRolling(t, p, c.agg)
			for k, w := range c.want {
				if !slices.Equal(got[k], w) {
					t.Errorf("%s p=%d key %s: got %v, want %v", c.name, p, k, got[k], w)
				}
			}
		}
	}
}

func TestSumOfNumbersWithSelf(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	in := freshet.FromSlice(env, ints(300))
	sums := freshet.Sum(freshet.KeyBy(in, func(v int) int { return v % 3 }), freshet.Self[int]())
	got := freshet.Collect(sums)
	execute(t, env)
	if len(got.Values()) != 300 {
		t.Fatalf("got %d running sums, want 300", len(got.Values()))
	}
	// The last running sum of each key is the key's total.
	total := map[int]int{}
	for _, v := range ints(300) {
		total[v%3] += v
	}
	for k, want := range total {
		if !slices.Contains(got.Values(), want) {
			t.Errorf("key %d: final sum %d missing from output", k, want)
		}
	}
}

type compositeKey struct {
	Region string
	Shard  int
}

func TestKeyByStructKeys(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	var in []int
	for i := 0; i < 600; i++ {
		in = append(in, i)
	}
	keyOf := func(v int) compositeKey { return compositeKey{Region: []string{"eu", "us"}[v%2], Shard: v % 5} }
	keyed := freshet.KeyBy(freshet.FromSlice(env, in), keyOf)
	got := freshet.Collect(freshet.KeyedProcess(keyed, freshet.KeyedProcessFunc(
		func(ctx *freshet.KeyedContext[compositeKey], v int, out freshet.Collector[[2]int]) error {
			if ctx.CurrentKey() != keyOf(v) {
				return fmt.Errorf("current key %v for %d", ctx.CurrentKey(), v)
			}
			out.Collect([2]int{v, ctx.Runtime().SubtaskIndex()})
			return nil
		})))
	execute(t, env)
	subtaskOf := map[compositeKey]int{}
	for _, r := range got.Values() {
		k := keyOf(r[0])
		if s, ok := subtaskOf[k]; ok && s != r[1] {
			t.Fatalf("key %v reached subtasks %d and %d", k, s, r[1])
		}
		subtaskOf[k] = r[1]
	}
	if len(subtaskOf) != 10 || len(got.Values()) != 600 {
		t.Fatalf("%d keys, %d records", len(subtaskOf), len(got.Values()))
	}
}
