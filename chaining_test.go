package freshet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
)

// chains returns, for each operator name, the chain (vertex) it runs in.
func chains(t *testing.T, env *freshet.Env) map[string]int {
	t.Helper()
	plan, err := env.ExecutionPlan("chains")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Nodes []struct {
			Type  string `json:"type"`
			Chain int    `json:"chain"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(plan), &p); err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, n := range p.Nodes {
		m[n.Type] = n.Chain
	}
	return m
}

func TestChainingFollowsFlinkRules(t *testing.T) {
	id := func(v int) int { return v }
	build := func(opts ...freshet.Option) *freshet.Env {
		return freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(2)}, opts...)...)
	}

	// Forward edges of equal parallelism chain by default.
	env := build()
	a := freshet.Map(freshet.FromSlice(env, ints(4)).Name("src"), id).Name("a")
	b := freshet.Map(a, id).Name("b")
	freshet.Collect(b.Filter(func(int) bool { return true }).Name("c"))
	c := chains(t, env)
	if !(c["src"] == c["a"] && c["a"] == c["b"] && c["b"] == c["c"]) {
		t.Errorf("forward operators not chained: %v", c)
	}

	// DisableChaining isolates an operator; StartNewChain starts one.
	env = build()
	a = freshet.Map(freshet.FromSlice(env, ints(4)).Name("src"), id).Name("a").DisableChaining()
	b = freshet.Map(a, id).Name("b")
	d := freshet.Map(b, id).Name("d").StartNewChain()
	freshet.Collect(freshet.Map(d, id).Name("e"))
	c = chains(t, env)
	if c["src"] == c["a"] || c["a"] == c["b"] || c["b"] == c["d"] || c["d"] != c["e"] {
		t.Errorf("DisableChaining/StartNewChain: %v", c)
	}

	// A parallelism change, a keyed edge, a rebalance or another slot
	// sharing group ends the chain.
	env = build()
	src := freshet.FromSlice(env, ints(4)).Name("src")
	p3 := freshet.Map(src, id).Name("p3").SetParallelism(3)
	k := freshet.Sum(freshet.KeyBy(p3, id), freshet.Self[int]()).Name("keyed")
	r := freshet.Map(k.Rebalance(), id).Name("rebalanced")
	g := freshet.Map(r, id).Name("group").SlotSharingGroup("other")
	freshet.Collect(g)
	c = chains(t, env)
	names := []string{"src", "p3", "keyed", "rebalanced", "group"}
	seen := map[int]bool{}
	for _, n := range names {
		seen[c[n]] = true
	}
	if len(seen) != len(names) {
		t.Errorf("every operator should be its own chain: %v", c)
	}

	// WithChaining(false) turns chaining off everywhere.
	env = build(freshet.WithChaining(false))
	freshet.Collect(freshet.Map(freshet.FromSlice(env, ints(4)).Name("src"), id).Name("a"))
	c = chains(t, env)
	if c["src"] == c["a"] {
		t.Errorf("chaining off: %v", c)
	}
}

func TestPrintSinkPrefixes(t *testing.T) {
	for _, p := range []int{1, 2} {
		var buf bytes.Buffer
		env := freshet.NewEnv(freshet.WithParallelism(p))
		freshet.SinkTo(freshet.FromSlice(env, []string{"x", "y", "z", "w"}), &freshet.PrintSink[string]{W: &buf}, "print")
		if err := env.Execute(context.Background(), "print"); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		slices.Sort(lines)
		want := []string{"w", "x", "y", "z"}
		if p == 2 {
			// Flink: "N> " with N the subtask index + 1 when parallelism > 1.
			want = []string{"1> x", "1> y", "2> w", "2> z"}
		}
		if !slices.Equal(lines, want) {
			t.Errorf("p=%d: printed %q, want %q", p, lines, want)
		}
	}
	var buf bytes.Buffer
	env := freshet.NewEnv()
	freshet.SinkTo(freshet.FromElements(env, 7), &freshet.PrintSink[int]{W: &buf, Prefix: "out"}, "print")
	if err := env.Execute(context.Background(), "print"); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "out> 7\n" {
		t.Errorf("prefixed print %q", buf.String())
	}
}

func TestConnectInParallelJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	nums := freshet.FromSlice(env, ints(30))
	words := freshet.FromSlice(env, []string{"a", "bb", "ccc"})
	c := freshet.Connect(nums, words)
	mapped := freshet.CoMap(c, func(v int) int { return v }, func(s string) int { return 100 * len(s) })
	flat := freshet.CoFlatMap(freshet.Connect(mapped, words), func(v int, out freshet.Collector[int]) { out.Collect(v) },
		func(s string, out freshet.Collector[int]) {
			for range s {
				out.Collect(-1)
			}
		})
	got := freshet.Collect(flat)
	execute(t, env)
	want := append(ints(30), 100, 200, 300, -1, -1, -1, -1, -1, -1)
	if g := sorted(got.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("got %v, want %v", g, sorted(want))
	}
}

func TestSinkDefaultSlotSharingGroupStillChains(t *testing.T) {
	env := freshet.NewEnv()
	m := freshet.Map(freshet.FromSlice(env, ints(4)).Name("src"), double).Name("m")
	m.Print().Name("sink").SlotSharingGroup("default")
	if c := chains(t, env); c["m"] != c["sink"] {
		t.Fatalf("sink in the default group left the chain: %v", c)
	}
}
