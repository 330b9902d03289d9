package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

func TestSessions(t *testing.T) {
	for _, p := range []int{1, 3} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		in := freshet.FromSourceWithWatermarks(env, source.FromSlice(sample()), Watermarks(), "Clicks")
		got := freshet.Collect(Sessions(in))
		if err := env.Execute(context.Background(), "sessions"); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, s := range got.Values() {
			lines = append(lines, s.String())
		}
		slices.Sort(lines)
		want := []string{
			"ana: 2 clicks from 09:55 to 10:26, landed on /checkout",
			"ana: 3 clicks from 09:00 to 09:50, landed on /home",
			"bo: 3 clicks from 09:07 to 10:10, landed on /sale",
			"cy: 1 clicks from 09:15 to 09:45, landed on /blog",
			"cy: 1 clicks from 10:20 to 10:50, landed on /blog/2",
		}
		if !slices.Equal(lines, want) {
			t.Errorf("p=%d: sessions\n%s\nwant\n%s", p, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestRun(t *testing.T) {
	if err := run(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
}
