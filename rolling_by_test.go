package freshet_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
)

// lap is a runner's lap: ties on Secs tell which element MinBy and MaxBy keep.
type lap struct {
	Runner string
	Lap    int
	Secs   int
}

func (l lap) String() string { return fmt.Sprintf("%s#%d:%d", l.Runner, l.Lap, l.Secs) }

// laps holds two keys whose values arrive out of order and tie on both the
// running minimum and the running maximum.
func laps() []lap {
	return []lap{
		{"ann", 1, 60}, {"bob", 1, 70}, {"ann", 2, 55}, {"ann", 3, 62},
		{"bob", 2, 70}, {"ann", 4, 55}, {"bob", 3, 65}, {"ann", 5, 62},
		{"ann", 6, 50}, {"bob", 4, 65}, {"ann", 7, 62}, {"bob", 5, 71},
		{"ann", 8, 50}, {"bob", 6, 71},
	}
}

// Expected running results per key, worked out by hand from Flink's rule
// (ComparableAggregator with MinByComparator/MaxByComparator): a strictly
// better element replaces the kept one; a tie keeps the kept one when
// first is true and takes the new one when first is false.
var rollingByCases = []struct {
	name string
	agg  func(*freshet.KeyedStream[lap, string]) *freshet.Stream[lap]
	want map[string][]string
}{
	{"MinBy first (default)",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] { return freshet.MinBy(k, secs) },
		map[string][]string{
			"ann": {"ann#1:60", "ann#2:55", "ann#2:55", "ann#2:55", "ann#2:55", "ann#6:50", "ann#6:50", "ann#6:50"},
			"bob": {"bob#1:70", "bob#1:70", "bob#3:65", "bob#3:65", "bob#3:65", "bob#3:65"},
		}},
	{"MinBy FirstOnTies",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] {
			return freshet.MinBy(k, secs, freshet.FirstOnTies())
		},
		map[string][]string{
			"ann": {"ann#1:60", "ann#2:55", "ann#2:55", "ann#2:55", "ann#2:55", "ann#6:50", "ann#6:50", "ann#6:50"},
			"bob": {"bob#1:70", "bob#1:70", "bob#3:65", "bob#3:65", "bob#3:65", "bob#3:65"},
		}},
	{"MinBy LastOnTies",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] {
			return freshet.MinBy(k, secs, freshet.LastOnTies())
		},
		map[string][]string{
			"ann": {"ann#1:60", "ann#2:55", "ann#2:55", "ann#4:55", "ann#4:55", "ann#6:50", "ann#6:50", "ann#8:50"},
			"bob": {"bob#1:70", "bob#2:70", "bob#3:65", "bob#4:65", "bob#4:65", "bob#4:65"},
		}},
	{"MaxBy first (default)",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] { return freshet.MaxBy(k, secs) },
		map[string][]string{
			"ann": {"ann#1:60", "ann#1:60", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62"},
			"bob": {"bob#1:70", "bob#1:70", "bob#1:70", "bob#1:70", "bob#5:71", "bob#5:71"},
		}},
	{"MaxBy LastOnTies",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] {
			return freshet.MaxBy(k, secs, freshet.LastOnTies())
		},
		map[string][]string{
			"ann": {"ann#1:60", "ann#1:60", "ann#3:62", "ann#3:62", "ann#5:62", "ann#5:62", "ann#7:62", "ann#7:62"},
			"bob": {"bob#1:70", "bob#2:70", "bob#2:70", "bob#2:70", "bob#5:71", "bob#6:71"},
		}},
	{"the last option wins",
		func(k *freshet.KeyedStream[lap, string]) *freshet.Stream[lap] {
			return freshet.MaxBy(k, secs, freshet.LastOnTies(), nil, freshet.FirstOnTies())
		},
		map[string][]string{
			"ann": {"ann#1:60", "ann#1:60", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62", "ann#3:62"},
			"bob": {"bob#1:70", "bob#1:70", "bob#1:70", "bob#1:70", "bob#5:71", "bob#5:71"},
		}},
}

var secs = freshet.FieldOf[lap, int]("Secs")

func TestMinByMaxByTiesInAJob(t *testing.T) {
	for _, c := range rollingByCases {
		for _, p := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/p=%d", c.name, p), func(t *testing.T) {
				env := freshet.NewEnv(freshet.WithParallelism(p))
				// One source subtask keeps each key's input order, so each
				// key's running results are exact at any parallelism.
				in := freshet.FromElements(env, laps()...)
				got := freshet.Collect(c.agg(freshet.KeyBy(in, func(l lap) string { return l.Runner })))
				execute(t, env)
				byRunner := map[string][]string{}
				for _, l := range got.Values() {
					byRunner[l.Runner] = append(byRunner[l.Runner], l.String())
				}
				for runner, want := range c.want {
					if !slices.Equal(byRunner[runner], want) {
						t.Errorf("%s: got %v, want %v", runner, byRunner[runner], want)
					}
				}
				if len(byRunner) != len(c.want) {
					t.Errorf("keys %v, want %d keys", byRunner, len(c.want))
				}
			})
		}
	}
}

func TestMinByMaxByTiesInTheHarness(t *testing.T) {
	for _, c := range rollingByCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := freshettest.New(func(in *freshet.Stream[lap]) *freshet.Stream[lap] {
				return c.agg(freshet.KeyBy(in, func(l lap) string { return l.Runner }))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			for i, l := range laps() {
				if err := h.ProcessAt(l, int64(100+i)); err != nil {
					t.Fatal(err)
				}
			}
			// The harness keeps the interleaving of the keys: each output
			// carries its input's timestamp.
			next := map[string]int{}
			for i, r := range h.Records() {
				runner := laps()[i].Runner
				if want := c.want[runner][next[runner]]; r.Value.String() != want || r.Timestamp != int64(100+i) {
					t.Errorf("record %d: %v@%d, want %s@%d", i, r.Value, r.Timestamp, want, 100+i)
				}
				next[runner]++
			}
			if n := len(h.Records()); n != len(laps()) {
				t.Errorf("%d records, want %d", n, len(laps()))
			}
		})
	}
}

func TestMinByMaxByOperatorNames(t *testing.T) {
	env := freshet.NewEnv()
	k := freshet.KeyBy(freshet.FromElements(env, laps()...), func(l lap) string { return l.Runner })
	freshet.Collect(freshet.MinBy(k, secs))
	freshet.Collect(freshet.MaxBy(k, secs, freshet.LastOnTies()))
	plan, err := env.ExecutionPlan("names")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Keyed MinBy(Secs)", "Keyed MaxBy(Secs, last on ties)"} {
		if !strings.Contains(plan, name) {
			t.Errorf("plan does not name %q:\n%s", name, plan)
		}
	}
}
