package freshet_test

import (
	"context"
	"slices"
	"testing"

	"github.com/freshet-io/freshet"
)

func TestSmokeMapFilter(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	in := freshet.FromSlice(env, []int{1, 2, 3, 4, 5, 6, 7, 8})
	out := freshet.Collect(freshet.Map(in, func(v int) int { return v * 10 }).Filter(func(v int) bool { return v > 20 }))
	if err := env.Execute(context.Background(), "smoke"); err != nil {
		t.Fatal(err)
	}
	got := out.Values()
	slices.Sort(got)
	if want := []int{30, 40, 50, 60, 70, 80}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
