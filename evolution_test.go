package freshet_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
)

type pointV1 struct {
	X, Y int
	Tags []string
}

// pointV2 dropped X and added Label.
type pointV2 struct {
	Tags  []string
	Y     int
	Label string
}

// pointV3 changed X's type.
type pointV3 struct {
	X string
	Y int
}

// evolvingJob keeps the last point per key in value state and a list of
// them, and on a record with an empty key prints what it holds for "a".
func evolvingJob[P any](mk func(x, y int) P) func(in *freshet.Stream[kv]) *freshet.Stream[string] {
	last := state.NewValue[P]("last")
	all := state.NewList[P]("all")
	return func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.KeyedProcessFunc(
			func(ctx *freshet.KeyedContext[string], e kv, out freshet.Collector[string]) error {
				l, a := state.Value(ctx.State(), last), state.List(ctx.State(), all)
				if e.V < 0 {
					v, _ := l.Value()
					out.Collect(fmt.Sprintf("%+v %+v", v, a.Get()))
					return nil
				}
				l.Update(mk(e.V, 10*e.V))
				a.Add(mk(e.V, 10*e.V))
				return nil
			})).UID("points")
	}
}

// TestStateEvolution: state written as one struct restores as a struct
// that dropped and added fields (read with the old layout, converted by
// field name), and one whose field changed type is refused, naming the
// state and the field.
func TestStateEvolution(t *testing.T) {
	h, err := freshettest.New(evolvingJob(func(x, y int) pointV1 { return pointV1{X: x, Y: y, Tags: []string{"t"}} }))
	check(t, err)
	check(t, h.Process(kv{"a", 1}))
	check(t, h.Process(kv{"a", 2}))
	snap, err := h.Snapshot()
	check(t, err)
	h.Close()

	// The same types read as is.
	same, err := freshettest.New(evolvingJob(func(x, y int) pointV1 { return pointV1{X: x, Y: y} }), freshettest.WithRestore(snap))
	check(t, err)
	check(t, same.Process(kv{"a", -1}))
	if got, want := same.Values(), []string{"{X:2 Y:20 Tags:[t]} [{X:1 Y:10 Tags:[t]} {X:2 Y:20 Tags:[t]}]"}; !slices.Equal(got, want) {
		t.Fatalf("as is: got %v, want %v", got, want)
	}
	same.Close()

	// Fields dropped and added: migrated.
	v2, err := freshettest.New(evolvingJob(func(x, y int) pointV2 { return pointV2{Y: y} }), freshettest.WithRestore(snap))
	check(t, err)
	check(t, v2.Process(kv{"a", -1}))
	check(t, v2.Process(kv{"a", 3}))
	if got, want := v2.Values(), []string{"{Tags:[t] Y:20 Label:} [{Tags:[t] Y:10 Label:} {Tags:[t] Y:20 Label:}]"}; !slices.Equal(got, want) {
		t.Fatalf("migrated: got %v, want %v", got, want)
	}
	// The migrated state snapshots in its new layout and restores as is.
	snap2, err := v2.Snapshot()
	check(t, err)
	v2.Close()
	again, err := freshettest.New(evolvingJob(func(x, y int) pointV2 { return pointV2{Y: y} }), freshettest.WithRestore(snap2))
	check(t, err)
	check(t, again.Process(kv{"a", -1}))
	if got := again.Values(); len(got) != 1 || !strings.HasPrefix(got[0], "{Tags:[] Y:30 Label:}") {
		t.Fatalf("after migrating: got %v", got)
	}
	again.Close()

	// A field's type changed: incompatible.
	v3, err := freshettest.New(evolvingJob(func(x, y int) pointV3 { return pointV3{Y: y} }), freshettest.WithRestore(snap))
	check(t, err)
	defer v3.Close()
	err = v3.Process(kv{"a", -1})
	if !errors.Is(err, state.ErrIncompatibleState) || !errors.Is(err, codec.ErrIncompatible) ||
		!strings.Contains(err.Error(), `"last"`) || !strings.Contains(err.Error(), "freshet_test.pointV3.X was int and is string") || !strings.Contains(err.Error(), `operator "KeyedProcess"`) {
		t.Fatalf("incompatible change: %v", err)
	}
}

// evolvingMapJob keeps points in map state and in value state with a TTL.
func evolvingMapJob[P any](mk func(x, y int) P) func(in *freshet.Stream[kv]) *freshet.Stream[string] {
	byName := state.NewMap[string, P]("by-name")
	recent := state.NewValue[P]("recent").WithTTL(state.TTL{Duration: time.Hour})
	return func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.KeyedProcessFunc(
			func(ctx *freshet.KeyedContext[string], e kv, out freshet.Collector[string]) error {
				m, r := state.Map(ctx.State(), byName), state.Value(ctx.State(), recent)
				if e.V < 0 {
					v, _ := m.Get("p")
					w, _ := r.Value()
					out.Collect(fmt.Sprintf("%+v %+v", v, w))
					return nil
				}
				m.Put("p", mk(e.V, 10*e.V))
				r.Update(mk(e.V, 10*e.V))
				return nil
			}))
	}
}

// TestStateEvolutionOfMapAndTTLState: map values and values with a TTL
// migrate too, keeping their last-access times.
func TestStateEvolutionOfMapAndTTLState(t *testing.T) {
	h, err := freshettest.New(evolvingMapJob(func(x, y int) pointV1 { return pointV1{X: x, Y: y} }), freshettest.WithProcessingTime(1000))
	check(t, err)
	check(t, h.Process(kv{"a", 4}))
	snap, err := h.Snapshot()
	check(t, err)
	h.Close()
	r, err := freshettest.New(evolvingMapJob(func(x, y int) pointV2 { return pointV2{Y: y} }), freshettest.WithProcessingTime(2000), freshettest.WithRestore(snap))
	check(t, err)
	defer r.Close()
	check(t, r.Process(kv{"a", -1}))
	if got, want := r.Values(), []string{"{Tags:[] Y:40 Label:} {Tags:[] Y:40 Label:}"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// pointBuffer keeps every point it sees in operator list state and, on a
// record with a negative value, prints the list.
type pointBuffer[P any] struct {
	freshet.BaseFunction
	mk func(x, y int) P
}

var pointsName = "points"

func (pointBuffer[P]) InitializeState(ctx *freshet.StateInitializationContext) error {
	_, err := freshet.ListState(ctx, state.NewList[P](pointsName))
	return err
}

func (pointBuffer[P]) SnapshotState(*freshet.StateSnapshotContext) error { return nil }

func (b pointBuffer[P]) ProcessElement(ctx *freshet.Context, e kv, out freshet.Collector[string]) error {
	l, err := freshet.ListState(ctx.Runtime(), state.NewList[P](pointsName))
	if err != nil {
		return err
	}
	if e.V < 0 {
		out.Collect(fmt.Sprintf("%+v", l.Get()))
		return nil
	}
	l.Add(b.mk(e.V, 10*e.V))
	return nil
}

func bufferJob[P any](mk func(x, y int) P) func(in *freshet.Stream[kv]) *freshet.Stream[string] {
	return func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.Process(in, pointBuffer[P]{mk: mk}).UID("buffer")
	}
}

// TestOperatorStateEvolution: operator list state is checked on restore
// as keyed state is: elements of a struct that dropped and added fields are
// migrated, and a changed field type is refused, naming the state.
func TestOperatorStateEvolution(t *testing.T) {
	h, err := freshettest.New(bufferJob(func(x, y int) pointV1 { return pointV1{X: x, Y: y, Tags: []string{"t"}} }))
	check(t, err)
	check(t, h.Process(kv{"a", 1}))
	check(t, h.Process(kv{"a", 2}))
	snap, err := h.Snapshot()
	check(t, err)
	h.Close()

	v2, err := freshettest.New(bufferJob(func(x, y int) pointV2 { return pointV2{Y: y} }), freshettest.WithRestore(snap))
	check(t, err)
	check(t, v2.Process(kv{"a", -1}))
	if got, want := v2.Values(), []string{"[{Tags:[t] Y:10 Label:} {Tags:[t] Y:20 Label:}]"}; !slices.Equal(got, want) {
		t.Fatalf("migrated: got %v, want %v", got, want)
	}
	v2.Close()

	_, err = freshettest.New(bufferJob(func(x, y int) pointV3 { return pointV3{Y: y} }), freshettest.WithRestore(snap))
	if !errors.Is(err, state.ErrIncompatibleState) || !errors.Is(err, codec.ErrIncompatible) || !strings.Contains(err.Error(), `"points"`) {
		t.Fatalf("incompatible change: %v", err)
	}
}
