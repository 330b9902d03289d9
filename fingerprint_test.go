package freshet

import (
	"testing"

	"github.com/freshet-io/freshet/sink"
)

type discard[T any] struct{}

func (discard[T]) CreateWriter(sink.InitContext) (sink.Writer[T], error) { return nil, nil }

// TestGraphFingerprint: the same program gives the same fingerprint (so a
// worker rebuilding it matches), and any change to its structure another.
func TestGraphFingerprint(t *testing.T) {
	build := func(parallelism int, uid, name string, shuffle bool) string {
		env := NewEnv(WithParallelism(parallelism))
		s := Map(FromSlice(env, []int{1, 2, 3}), func(v int) int { return v * 2 })
		if uid != "" {
			s = s.UID(uid)
		}
		if shuffle {
			s = s.Shuffle()
		}
		SinkTo(s, &discard[int]{}, name)
		g, err := env.plan("job")
		if err != nil {
			t.Fatal(err)
		}
		return g.Fingerprint()
	}
	base := build(2, "", "sink", false)
	if again := build(2, "", "sink", false); again != base {
		t.Fatalf("the same program gives fingerprints %s and %s", base, again)
	}
	for name, fp := range map[string]string{
		"parallelism": build(3, "", "sink", false),
		"uid":         build(2, "doubler", "sink", false),
		"name":        build(2, "", "other sink", false),
		"partitioner": build(2, "", "sink", true),
	} {
		if fp == base {
			t.Errorf("changing the %s keeps the fingerprint", name)
		}
	}
}
