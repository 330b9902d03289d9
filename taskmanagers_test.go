package freshet_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/freshet-io/freshet"
)

type wordCount struct {
	Word string
	N    int
}

// TestTwoTaskManagers runs a keyed count on two TaskManagers, each with
// its own input gates: the records shuffled between them are encoded, and
// the counts are exact.
func TestTwoTaskManagers(t *testing.T) {
	words := []string{"a", "b", "a", "c", "b", "a", "d", "a", "c", "e", "b", "a"}
	want := map[string]int{}
	for _, w := range words {
		want[w]++
	}
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithTaskManagers(2))
	ones := freshet.Map(freshet.FromSlice(env, words), func(w string) wordCount { return wordCount{Word: w, N: 1} })
	counts := freshet.Reduce(freshet.KeyBy(ones, func(c wordCount) string { return c.Word }),
		func(acc, v wordCount) wordCount { return wordCount{Word: acc.Word, N: acc.N + v.N} })
	got := freshet.Collect(counts)
	execute(t, env)
	final := map[string]int{}
	for _, c := range got.Values() {
		final[c.Word] = max(final[c.Word], c.N)
	}
	if !maps.Equal(final, want) {
		t.Fatalf("counts %v, want %v", final, want)
	}

	// Types crossing between TaskManagers need codecs.
	type secret struct{ hidden func() }
	env = freshet.NewEnv(freshet.WithTaskManagers(2))
	freshet.Collect(freshet.Map(freshet.FromElements(env, 1), func(int) secret { return secret{} }).Rebalance())
	if err := env.Execute(context.Background(), "no codec"); !errors.Is(err, freshet.ErrInvalidProgram) {
		t.Fatalf("Execute = %v, want ErrInvalidProgram about the codec", err)
	}
}
