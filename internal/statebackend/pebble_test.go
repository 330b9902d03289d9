package statebackend

import (
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// TestSnapshotsMoveBetweenBackends: a snapshot of either backend restores
// on the other, also at another parallelism (key groups split and
// merged), holding every kind of state, and back again.
func TestSnapshotsMoveBetweenBackends(t *testing.T) {
	const maxP = 16
	all := keys(120)
	for _, from := range backendKinds {
		for _, to := range backendKinds {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				var snaps [][]byte
				var old []contents
				for sub := range 2 {
					b := from.new(t, maxP)
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
				for _, p := range []int{1, 3} {
					var parts []contents
					var again [][]byte
					for sub := range p {
						b, f := restoreOn(t, to, maxP, keygroup.RangeFor(maxP, p, sub), snaps...)
						parts = append(parts, f.contents())
						again = append(again, snapshot(t, b))
					}
					if got := union(parts...); !reflect.DeepEqual(got, want) {
						t.Fatalf("at parallelism %d on %s:\n got %v\nwant %v", p, to.name, got, want)
					}
					// And back, at parallelism 2.
					var back []contents
					for sub := range 2 {
						_, f := restoreOn(t, from, maxP, keygroup.RangeFor(maxP, 2, sub), again...)
						back = append(back, f.contents())
					}
					if got := union(back...); !reflect.DeepEqual(got, want) {
						t.Fatalf("back on %s from parallelism %d:\n got %v\nwant %v", from.name, p, got, want)
					}
				}
			})
		}
	}
}

// TestPebbleRefIsWrittenBack: a value changed through Ref's pointer is
// what later reads, ranges and snapshots see, and values read are copies.
func TestPebbleRefIsWrittenBack(t *testing.T) {
	b := backendKinds[1].new(t, 0)
	tab, err := NewTable[string, int, []int](b, "t")
	if err != nil {
		t.Fatal(err)
	}
	p, existed := tab.Ref("a", 1)
	if existed || tab.Len() != 1 {
		t.Fatalf("Ref of a new entry: existed %v, Len %d", existed, tab.Len())
	}
	*p = append(*p, 1)
	if v, _ := tab.Get("a", 1); len(v) != 1 {
		t.Fatalf("Get after Ref = %v", v)
	}
	*p = append(*p, 2) // still valid: the table has not changed
	n := 0
	tab.Range(func(_ string, _ int, v []int) bool { n = len(v); return true })
	if n != 2 {
		t.Fatalf("Range saw %d elements, want 2", n)
	}
	tab.Put("b", 1, []int{7})
	v, _ := tab.Get("a", 1)
	if len(v) != 2 {
		t.Fatalf("after another Put, Get = %v", v)
	}
	v[0] = 99 // a copy: the table keeps its value
	if w, _ := tab.Get("a", 1); w[0] != 1 {
		t.Fatalf("changing a read value changed the table: %v", w)
	}
	if ValuesInPlace(b) || !ValuesInPlace(NewHeap(0)) {
		t.Fatal("ValuesInPlace: want false for Pebble, true for the heap")
	}
}

func TestPebbleCloseRemovesItsDirectory(t *testing.T) {
	parent := t.TempDir()
	b, err := NewPebble(0, PebbleOptions{Dir: parent})
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := NewTable[int, struct{}, int](b, "t")
	tab.Put(1, struct{}{}, 1)
	if err := b.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(parent)
	if err != nil || len(ents) != 0 {
		t.Fatalf("after Close the directory holds %v (%v)", ents, err)
	}
}

// TestPebbleStateLargerThanItsCache keeps about 16 MB of state (2 MB
// with the race detector) with a 1 MB block cache and 1 MB memtables, so
// most of it is in files, and reads every value back, then snapshots and
// restores it.
func TestPebbleStateLargerThanItsCache(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 16 MB; run without -short")
	}
	const size = 1000
	n := 16_000
	if raceEnabled {
		n = 2_000
	}
	b, err := NewPebble(0, PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20, MemTableSize: 1 << 20, EntryCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend(t, b)
	tab, err := NewTable[int64, struct{}, []byte](b, "big")
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int64) []byte {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(i + int64(j))
		}
		return v
	}
	for i := range int64(n) {
		tab.Put(i, struct{}{}, val(i))
	}
	check := func(tab Table[int64, struct{}, []byte]) {
		t.Helper()
		if tab.Len() != n {
			t.Fatalf("Len %d, want %d", tab.Len(), n)
		}
		for i := range int64(n) {
			if v, ok := tab.Get(i, struct{}{}); !ok || !reflect.DeepEqual(v, val(i)) {
				t.Fatalf("key %d: got %d bytes, %v", i, len(v), ok)
			}
		}
	}
	check(tab)
	snap := snapshot(t, b)
	r, err := RestorePebble(0, full(128), PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20, MemTableSize: 1 << 20, EntryCacheSize: 1 << 20}, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend(t, r)
	tab2, err := NewTable[int64, struct{}, []byte](r, "big")
	if err != nil {
		t.Fatal(err)
	}
	check(tab2)
}

func TestPebbleKeepsUnencodableTablesOnTheHeap(t *testing.T) {
	b := backendKinds[1].new(t, 0)
	tab, err := NewTable[string, struct{}, *opaque](b, "pointers")
	if err != nil {
		t.Fatal(err)
	}
	o := &opaque{1}
	tab.Put("a", struct{}{}, o)
	if v, _ := tab.Get("a", struct{}{}); v != o {
		t.Fatal("a table of pointers without a codec should hold them as given")
	}
	if _, err := b.(Snapshotter).Snapshot(0); !errors.Is(err, ErrNotSnapshottable) {
		t.Fatalf("Snapshot = %v; want ErrNotSnapshottable", err)
	}
}

func BenchmarkTableCount(b *testing.B) {
	for _, bk := range backendKinds {
		b.Run(bk.name, func(b *testing.B) {
			tab, err := NewTable[int64, struct{}, int64](bk.new(b, 0), "counts")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := int64(i*7919) % 1_000_000
				v, _ := tab.Get(k, struct{}{})
				tab.Put(k, struct{}{}, v+1)
			}
		})
	}
}

// TestPebbleEntryCache: two tables sharing a small entry cache, written
// far more often than ranged over, so that dirty entries are evicted,
// match a reference in Get, Len, per-key-group ranges and a snapshot
// restored without the cache; a value read and changed without a Put
// stays as stored.
func TestPebbleEntryCache(t *testing.T) {
	b, err := NewPebble(16, PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend(t, b)
	tab, err := NewTable[int, int, []int](b, "copies")
	if err != nil {
		t.Fatal(err)
	}
	tab.Put(1, 0, []int{1})
	v, _ := tab.Get(1, 0)
	v[0] = 2
	if v, _ := tab.Get(1, 0); v[0] != 1 {
		t.Fatalf("a value changed without a Put reads %v, want [1]", v)
	}

	for _, size := range []int64{-1, 4 << 10, 64 << 10} {
		b, err = NewPebble(16, PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20, EntryCacheSize: size})
		if err != nil {
			t.Fatal(err)
		}
		defer closeBackend(t, b)
		type kn struct{ k, ns int }
		var tabs [2]Table[int, int, []int]
		var refs [2]map[kn]int
		for i := range tabs {
			if tabs[i], err = NewTable[int, int, []int](b, string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
			refs[i] = map[kn]int{}
		}
		r := rand.New(rand.NewPCG(5, uint64(size)))
		steps := 20000
		if raceEnabled {
			steps = 4000
		}
		for step := range steps {
			i := r.IntN(2)
			tab, ref := tabs[i], refs[i]
			x := kn{r.IntN(200), r.IntN(3)}
			switch op := r.IntN(100); {
			case op < 35:
				v := r.IntN(1000)
				tab.Put(x.k, x.ns, []int{v})
				ref[x] = v
			case op < 55:
				p, existed := tab.Ref(x.k, x.ns)
				w, had := ref[x]
				if existed != had || (had && (*p)[0] != w) {
					t.Fatalf("step %d: Ref(%v) = %v, %v; reference %d, %v", step, x, *p, existed, w, had)
				}
				*p = []int{w + 7}
				ref[x] = w + 7
			case op < 65:
				tab.Delete(x.k, x.ns)
				delete(ref, x)
			case op < 99:
				v, ok := tab.Get(x.k, x.ns)
				w, had := ref[x]
				if ok != had || (ok && v[0] != w) {
					t.Fatalf("step %d: Get(%v) = %v, %v; reference %d, %v", step, x, v, ok, w, had)
				}
			default:
				kg := r.IntN(16)
				n := 0
				tab.RangeKeyGroup(kg, func(k, ns int, v []int) bool {
					if w, had := ref[kn{k, ns}]; !had || v[0] != w {
						t.Fatalf("step %d: RangeKeyGroup saw %v at %v, reference %d, %v", step, v, kn{k, ns}, w, had)
					}
					n++
					return true
				})
				want := 0
				for e := range ref {
					if tab.KeyGroupOf(e.k) == kg {
						want++
					}
				}
				if n != want {
					t.Fatalf("step %d: key group %d has %d entries, reference %d", step, kg, n, want)
				}
			}
			if tab.Len() != len(ref) {
				t.Fatalf("step %d: Len %d, reference %d", step, tab.Len(), len(ref))
			}
		}
		snap := snapshot(t, b)
		rb, err := RestorePebble(16, full(16), PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20, EntryCacheSize: -1}, snap)
		if err != nil {
			t.Fatal(err)
		}
		defer closeBackend(t, rb)
		for i := range tabs {
			tab, err := NewTable[int, int, []int](rb, string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			if tab.Len() != len(refs[i]) {
				t.Fatalf("restored Len %d, reference %d", tab.Len(), len(refs[i]))
			}
			for e, w := range refs[i] {
				if v, ok := tab.Get(e.k, e.ns); !ok || v[0] != w {
					t.Fatalf("restored Get(%v) = %v, %v; reference %d", e, v, ok, w)
				}
			}
		}
	}
}
