package statebackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

type meanAcc struct{ Sum, N int }

type meanAgg struct{}

func (meanAgg) CreateAccumulator() meanAcc   { return meanAcc{} }
func (meanAgg) Add(v int, a meanAcc) meanAcc { return meanAcc{a.Sum + v, a.N + 1} }
func (meanAgg) GetResult(a meanAcc) float64  { return float64(a.Sum) / float64(a.N) }
func (meanAgg) Merge(a, b meanAcc) meanAcc   { return meanAcc{a.Sum + b.Sum, a.N + b.N} }
func sumInts(a, b int) int                   { return a + b }
func full(maxParallelism int) keygroup.Range {
	return keygroup.Range{Start: 0, End: maxParallelism - 1}
}
func tw(start int64) window.TimeWindow { return window.TimeWindow{Start: start, End: start + 10} }
func timerOf(k string, ts int64) Timer[string, window.TimeWindow] {
	return Timer[string, window.TimeWindow]{Time: ts, Key: k, Namespace: tw(ts - 9)}
}

// fixture is one operator's state of every kind: user state of each kind
// through descriptors, an operator's own table keyed by window, and a
// timer queue.
type fixture struct {
	value, list, mapped, reducing, aggregating Table[string, struct{}, any]
	windows                                    Table[string, window.TimeWindow, []int]
	timers                                     TimerQueue[string, window.TimeWindow]
}

func newFixture(t testing.TB, b Backend) *fixture {
	t.Helper()
	f := &fixture{}
	var err error
	mk := func(dst *Table[string, struct{}, any], d state.Descriptor) {
		if err == nil {
			*dst, err = NewStateTable[string, struct{}](b, "user/"+d.Name(), d)
		}
	}
	mk(&f.value, state.NewValue[int]("value"))
	mk(&f.list, state.NewList[string]("list"))
	mk(&f.mapped, state.NewMap[string, int]("map"))
	mk(&f.reducing, state.NewReducing("reducing", sumInts))
	mk(&f.aggregating, state.NewAggregating[int, meanAcc, float64]("aggregating", meanAgg{}))
	if err == nil {
		f.windows, err = NewTable[string, window.TimeWindow, []int](b, "window-contents")
	}
	if err == nil {
		f.timers, err = NewTimerQueue[string, window.TimeWindow](b, "window-timers/event")
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) fill(keys ...string) {
	for i, k := range keys {
		f.value.Put(k, struct{}{}, i)
		f.list.Put(k, struct{}{}, []string{k, "x"})
		f.mapped.Put(k, struct{}{}, map[string]int{k: i, "y": -i})
		f.reducing.Put(k, struct{}{}, i*10)
		f.aggregating.Put(k, struct{}{}, meanAcc{Sum: i, N: 2})
		f.windows.Put(k, tw(int64(i)), []int{i, i + 1})
		f.windows.Put(k, tw(int64(i)+100), []int{i})
		f.timers.Add(timerOf(k, int64(i)+9))
		f.timers.Add(timerOf(k, int64(i)+109))
	}
}

// contents is everything f holds, comparable with reflect.DeepEqual.
type contents map[string]map[string]any

func tableContents[N comparable, V any](tab Table[string, N, V]) map[string]any {
	m := map[string]any{}
	tab.Range(func(k string, ns N, v V) bool { m[fmt.Sprint(k, "/", ns)] = v; return true })
	return m
}

func (f *fixture) contents() contents {
	c := contents{
		"value": tableContents(f.value), "list": tableContents(f.list), "map": tableContents(f.mapped),
		"reducing": tableContents(f.reducing), "aggregating": tableContents(f.aggregating),
		"windows": tableContents(f.windows), "timers": {},
	}
	f.timers.Range(func(t Timer[string, window.TimeWindow]) bool {
		c["timers"][fmt.Sprint(t.Key, "/", t.Namespace, "@", t.Time)] = true
		return true
	})
	return c
}

func union(cs ...contents) contents {
	u := contents{}
	for _, c := range cs {
		for name, m := range c {
			if u[name] == nil {
				u[name] = map[string]any{}
			}
			for k, v := range m {
				if _, dup := u[name][k]; dup {
					panic("entry " + k + " of " + name + " twice")
				}
				u[name][k] = v
			}
		}
	}
	return u
}

func keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("key-%d", i)
	}
	return ks
}

func snapshot(t *testing.T, b Backend) []byte {
	t.Helper()
	s, err := b.(Snapshotter).Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func restoreOn(t *testing.T, bk backendKind, maxParallelism int, kgs keygroup.Range, snaps ...[]byte) (Backend, *fixture) {
	t.Helper()
	b, err := bk.restore(t, maxParallelism, kgs, snaps...)
	if err != nil {
		t.Fatal(err)
	}
	return b, newFixture(t, b)
}

func TestSnapshotRoundTripEveryKind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		f := newFixture(t, b)
		f.fill(keys(50)...)
		want := f.contents()
		_, g := restoreOn(t, bk, 128, full(128), snapshot(t, b))
		if got := g.contents(); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored state differs:\n got %v\nwant %v", got, want)
		}
		if again := snapshot(t, bk.new(t, 0)); len(again) == 0 {
			t.Fatal("an empty backend wrote no snapshot")
		}
	})
}

func TestSnapshotIsNotChangedByLaterWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		f := newFixture(t, b)
		f.fill(keys(10)...)
		want := f.contents()
		snap := snapshot(t, b)
		copied := slices.Clone(snap)

		f.fill(keys(20)...)
		f.value.Delete("key-0", struct{}{})
		p, _ := f.windows.Ref("key-1", tw(1))
		(*p)[0] = 99 // in place, as the window operator does
		f.timers.Poll()

		if !slices.Equal(snap, copied) {
			t.Fatal("later writes changed the snapshot's bytes")
		}
		_, g := restoreOn(t, bk, 128, full(128), snap)
		if got := g.contents(); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored state differs:\n got %v\nwant %v", got, want)
		}
	})
}

// TestRestoreSplitsAndMergesKeyGroups takes the snapshots of two subtasks
// of parallelism 2 and restores them at parallelism 3 and 1: each new
// subtask gets exactly the entries of its key groups, and together they
// hold exactly what the old ones held.
func TestRestoreSplitsAndMergesKeyGroups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		const maxP = 16
		all := keys(200)
		var snaps [][]byte
		var old []contents
		for sub := range 2 {
			b := bk.new(t, maxP)
			f := newFixture(t, b)
			r := keygroup.RangeFor(maxP, 2, sub)
			var mine []string
			for _, k := range all {
				if r.Contains(f.windows.KeyGroupOf(k)) {
					mine = append(mine, k)
				}
			}
			f.fill(mine...)
			old = append(old, f.contents())
			snaps = append(snaps, snapshot(t, b))
		}
		want := union(old...)
		for _, p := range []int{1, 2, 3} {
			t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
				var parts []contents
				for sub := range p {
					r := keygroup.RangeFor(maxP, p, sub)
					_, f := restoreOn(t, bk, maxP, r, snaps...)
					for name, m := range f.contents() {
						for e := range m {
							k, _, _ := strings.Cut(e, "/")
							if kg := f.windows.KeyGroupOf(k); !r.Contains(kg) {
								t.Fatalf("subtask %d of %d holds %s entry %s of key group %d, outside %v", sub, p, name, e, kg, r)
							}
						}
					}
					parts = append(parts, f.contents())
				}
				if got := union(parts...); !reflect.DeepEqual(got, want) {
					t.Fatalf("the union of the restored subtasks differs:\n got %v\nwant %v", got, want)
				}
			})
		}
	})
}

// TestRestoredTimersFireTheSame checks that restored timers fire in the
// same order, also those of the same time.
func TestRestoredTimersFireTheSame(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		f := newFixture(t, b)
		f.fill(keys(30)...)
		for _, k := range keys(40) {
			f.timers.Add(timerOf(k, 500)) // many timers of one time, in an order
		}
		_, g := restoreOn(t, bk, 128, full(128), snapshot(t, b))
		for {
			a, ok1 := f.timers.Poll()
			c, ok2 := g.timers.Poll()
			if ok1 != ok2 || a != c {
				t.Fatalf("original fired %v %v, restored %v %v", a, ok1, c, ok2)
			}
			if !ok1 {
				break
			}
		}
	})
}

// TestUnclaimedStateCarriesOn snapshots a restored backend before its
// tables are created again: their state is in the new snapshot.
func TestUnclaimedStateCarriesOn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		f := newFixture(t, b)
		f.fill(keys(20)...)
		want := f.contents()
		mid, err := bk.restore(t, 0, full(128), snapshot(t, b))
		if err != nil {
			t.Fatal(err)
		}
		_, g := restoreOn(t, bk, 128, full(128), snapshot(t, mid))
		if got := g.contents(); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored state differs:\n got %v\nwant %v", got, want)
		}
	})
}

type opaque struct{ n int }

func TestSnapshotOfPointersFailsNamingTheTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		tab, err := NewTable[string, struct{}, *opaque](b, "merging-windows")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.(Snapshotter).Snapshot(0); err != nil {
			t.Fatalf("an empty table without a codec: %v", err)
		}
		tab.Put("a", struct{}{}, &opaque{1})
		_, err = b.(Snapshotter).Snapshot(0)
		if !errors.Is(err, ErrNotSnapshottable) || !strings.Contains(err.Error(), `"merging-windows"`) {
			t.Fatalf("Snapshot = %v; want ErrNotSnapshottable naming the table", err)
		}
	})
}

// opaqueCodec encodes an *opaque as its number.
type opaqueCodec struct{}

func (opaqueCodec) Append(dst []byte, v *opaque) []byte { return binary.AppendVarint(dst, int64(v.n)) }
func (opaqueCodec) Decode(src []byte) (*opaque, int, error) {
	n, m := binary.Varint(src)
	if m <= 0 {
		return nil, 0, errors.New("bad opaque")
	}
	return &opaque{int(n)}, m, nil
}

func TestTableWithCodecIsSnapshotted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		tab, err := NewTable[string, struct{}, *opaque](b, "opaque", WithCodec[*opaque](opaqueCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		tab.Put("a", struct{}{}, &opaque{7})
		r, err := bk.restore(t, 0, full(128), snapshot(t, b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewTable[string, struct{}, *opaque](r, "opaque", WithCodec[*opaque](opaqueCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got.Get("a", struct{}{}); !ok || v.n != 7 {
			t.Fatalf("restored %v, %v; want 7", v, ok)
		}
	})
}

func TestRestoreRefusesAnotherMaxParallelism(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 64)
		newFixture(t, b).fill("a")
		if _, err := bk.restore(t, 128, full(128), snapshot(t, b)); err == nil || !strings.Contains(err.Error(), "max parallelism 64") {
			t.Fatalf("RestoreHeap = %v; want a max parallelism error", err)
		}
	})
}

// withCRC replaces the checksum of a snapshot body.
func withCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, castagnoli))
}

// restoreAll restores snap and creates the fixture's states, returning the
// first error; it must never panic.
func restoreAll(snap []byte) error {
	b, err := RestoreHeap(16, full(16), snap)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range []state.Descriptor{state.NewValue[int]("value"), state.NewList[string]("list"),
		state.NewMap[string, int]("map"), state.NewReducing("reducing", sumInts),
		state.NewAggregating[int, meanAcc, float64]("aggregating", meanAgg{})} {
		_, err := NewStateTable[string, struct{}](b, "user/"+d.Name(), d)
		errs = append(errs, err)
	}
	_, err = NewTable[string, window.TimeWindow, []int](b, "window-contents")
	errs = append(errs, err)
	_, err = NewTimerQueue[string, window.TimeWindow](b, "window-timers/event")
	errs = append(errs, err)
	return errors.Join(errs...)
}

func validSnapshot(t testing.TB) []byte {
	b := NewHeap(16)
	f := newFixture(t, b)
	f.fill(keys(5)...)
	s, err := b.(Snapshotter).Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCorruptSnapshotsGiveErrors(t *testing.T) {
	good := validSnapshot(t)
	if err := restoreAll(good); err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if err := restoreAll(good[:n]); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	body := good[:len(good)-4]
	for i := range body {
		bad := slices.Clone(good)
		bad[i] ^= 0x40
		if err := restoreAll(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		// With the checksum fixed the framing and codecs must catch it, or
		// the entry is a valid one; either way without a panic.
		fixed := slices.Clone(body)
		fixed[i] ^= 0x40
		_ = restoreAll(withCRC(fixed))
	}
}

func FuzzRestore(f *testing.F) {
	good := validSnapshot(f)
	f.Add(good[:len(good)-4])
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(_ *testing.T, body []byte) {
		_ = restoreAll(withCRC(body))
	})
}

func TestRestoreRefusesOverlappingSnapshots(t *testing.T) {
	b := NewHeap(0)
	newFixture(t, b).fill(keys(5)...)
	s := snapshot(t, b)
	if _, err := RestoreHeap(0, full(128), s, s); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("RestoreHeap of one snapshot twice = %v; want ErrCorruptSnapshot", err)
	}
}

// TestTableAndTimerQueueMayShareAName: user state may be named as the
// operator's timer queue is.
func TestTableAndTimerQueueMayShareAName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		tab, err := NewTable[string, struct{}, int](b, "timers/event")
		if err != nil {
			t.Fatal(err)
		}
		q, err := NewTimerQueue[string, struct{}](b, "timers/event")
		if err != nil {
			t.Fatal(err)
		}
		tab.Put("a", struct{}{}, 1)
		q.Add(Timer[string, struct{}]{Time: 5, Key: "a"})
		r, err := bk.restore(t, 0, full(128), snapshot(t, b))
		if err != nil {
			t.Fatal(err)
		}
		q2, err := NewTimerQueue[string, struct{}](r, "timers/event")
		if err != nil {
			t.Fatal(err)
		}
		tab2, err := NewTable[string, struct{}, int](r, "timers/event")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := tab2.Get("a", struct{}{}); v != 1 || q2.Len() != 1 {
			t.Fatalf("restored value %d and %d timers; want 1 and 1", v, q2.Len())
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	be := NewHeap(0)
	f := newFixture(b, be)
	f.fill(keys(10000)...)
	b.ResetTimer()
	for b.Loop() {
		s, err := be.(Snapshotter).Snapshot(0)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(s)))
	}
}
