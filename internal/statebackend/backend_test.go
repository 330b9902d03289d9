package statebackend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/freshet-io/freshet/internal/keygroup"
)

func TestTableAndTimers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		b := bk.new(t, 0)
		tab, err := NewTable[string, int64, []int](b, "t")
		if err != nil {
			t.Fatal(err)
		}
		tab.Put("a", 1, []int{1})
		tab.Put("a", 2, []int{2})
		if v, ok := tab.Get("a", 1); !ok || v[0] != 1 {
			t.Fatalf("Get = %v %v", v, ok)
		}
		tab.Delete("a", 1)
		if _, ok := tab.Get("a", 1); ok || tab.Len() != 1 {
			t.Fatal("Delete did not remove the entry")
		}

		q, _ := NewTimerQueue[string, int64](b, "timers")
		r := rand.New(rand.NewPCG(1, 2))
		var want []int64
		for i := 0; i < 200; i++ {
			ts := r.Int64N(50)
			if q.Add(Timer[string, int64]{Time: ts, Key: "k"}) {
				want = append(want, ts)
			}
		}
		if q.Len() != len(want) {
			t.Fatalf("dedup: %d timers, want %d", q.Len(), len(want))
		}
		if !q.Remove(Timer[string, int64]{Time: want[0], Key: "k"}) || q.Remove(Timer[string, int64]{Time: want[0], Key: "k"}) {
			t.Fatal("Remove should succeed once")
		}
		want = want[1:]
		slices.Sort(want)
		var got []int64
		for {
			tm, ok := q.Poll()
			if !ok {
				break
			}
			got = append(got, tm.Time)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("poll order %v, want %v", got, want)
		}
	})
}

// TestTimerQueueAgainstReference checks the bucketed queue against a plain
// set under random adds, removes and polls with several keys and windows.
func TestTimerQueueAgainstReference(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		type tm = Timer[int, int]
		r := rand.New(rand.NewPCG(7, 9))
		// Many times with few timers each, and few times shared by many
		// timers, so buckets are searched both with and without their index
		// and grow past smallBucket and shrink again.
		for _, shape := range []struct{ times, keys int }{{20, 5}, {3, 20}} {
			for round := 0; round < 50; round++ {
				q, _ := NewTimerQueue[int, int](bk.new(t, 0), "q")
				ref := map[tm]bool{}
				for step := 0; step < 500; step++ {
					x := tm{Time: r.Int64N(int64(shape.times)), Key: r.IntN(shape.keys), Namespace: r.IntN(3)}
					switch r.IntN(4) {
					case 0, 1:
						if q.Add(x) == ref[x] {
							t.Fatalf("Add(%v) new=%v but reference has it=%v", x, !ref[x], ref[x])
						}
						ref[x] = true
					case 2:
						if q.Remove(x) != ref[x] {
							t.Fatalf("Remove(%v) disagrees with reference", x)
						}
						delete(ref, x)
					case 3:
						got, ok := q.Poll()
						if ok != (len(ref) > 0) {
							t.Fatalf("Poll ok=%v with %d timers", ok, len(ref))
						}
						if !ok {
							continue
						}
						if !ref[got] {
							t.Fatalf("Poll returned %v, not in reference", got)
						}
						for o := range ref {
							if o.Time < got.Time {
								t.Fatalf("Poll returned %v before earlier %v", got, o)
							}
						}
						delete(ref, got)
					}
					if q.Len() != len(ref) {
						t.Fatalf("Len %d, reference %d", q.Len(), len(ref))
					}
					if p, ok := q.Peek(); ok && !ref[p] {
						t.Fatalf("Peek %v not in reference", p)
					}
				}
			}
		}
	})
}

// TestTableAgainstReference checks tables under random puts, refs, deletes
// and ranges over many namespaces (more than the namespace cache holds).
func TestTableAgainstReference(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		type kn struct{ k, ns int }
		r := rand.New(rand.NewPCG(3, 4))
		tab, _ := NewTable[int, int, int](bk.new(t, 0), "t")
		ref := map[kn]int{}
		steps := 20000
		if raceEnabled && bk.name != "heap" {
			steps = 3000 // Pebble is slow under the race detector
		}
		for step := 0; step < steps; step++ {
			x := kn{r.IntN(30), r.IntN(40)}
			switch r.IntN(5) {
			case 0:
				v := r.IntN(1000)
				tab.Put(x.k, x.ns, v)
				ref[x] = v
			case 1:
				p, existed := tab.Ref(x.k, x.ns)
				_, had := ref[x]
				if existed != had || (had && *p != ref[x]) || (!had && *p != 0) {
					t.Fatalf("Ref(%v) = %d, %v; reference %d, %v", x, *p, existed, ref[x], had)
				}
				*p += 7
				ref[x] += 7
			case 2:
				tab.Delete(x.k, x.ns)
				delete(ref, x)
			case 3:
				v, ok := tab.Get(x.k, x.ns)
				if w, had := ref[x]; ok != had || v != w {
					t.Fatalf("Get(%v) = %d, %v; reference %d, %v", x, v, ok, w, had)
				}
			case 4:
				n := 0
				tab.Range(func(k, ns, v int) bool {
					if ref[kn{k, ns}] != v {
						t.Fatalf("Range saw %d at %v, reference %d", v, kn{k, ns}, ref[kn{k, ns}])
					}
					n++
					return true
				})
				if n != len(ref) {
					t.Fatalf("Range saw %d entries, reference has %d", n, len(ref))
				}
			}
			if tab.Len() != len(ref) {
				t.Fatalf("Len %d, reference %d", tab.Len(), len(ref))
			}
		}
	})
}

// TestTableKeyGroupLayout: entries land in the key group the keyed exchange
// sends their key to, and RangeKeyGroup visits exactly one group's.
func TestTableKeyGroupLayout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bk backendKind) {
		const maxPar = 16
		tab, err := NewTable[string, int, int](bk.new(t, maxPar), "t")
		if err != nil {
			t.Fatal(err)
		}
		if tab.MaxParallelism() != maxPar {
			t.Fatalf("MaxParallelism = %d, want %d", tab.MaxParallelism(), maxPar)
		}
		want := map[int][]string{} // key group → "key/ns"
		for i := range 100 {
			k := fmt.Sprintf("key-%d", i)
			kg := keygroup.ForHash(keygroup.StringHash(k), maxPar)
			if got := tab.KeyGroupOf(k); got != kg {
				t.Fatalf("KeyGroupOf(%q) = %d, want %d", k, got, kg)
			}
			for ns := range 2 {
				tab.Put(k, ns, i)
				want[kg] = append(want[kg], fmt.Sprintf("%s/%d", k, ns))
			}
		}
		total := 0
		for kg := range maxPar {
			var got []string
			tab.RangeKeyGroup(kg, func(k string, ns, v int) bool {
				got = append(got, fmt.Sprintf("%s/%d", k, ns))
				return true
			})
			slices.Sort(got)
			slices.Sort(want[kg])
			if !slices.Equal(got, want[kg]) {
				t.Fatalf("key group %d holds %v, want %v", kg, got, want[kg])
			}
			total += len(got)
		}
		if total != 200 || tab.Len() != 200 {
			t.Fatalf("%d entries over the key groups, Len %d; want 200", total, tab.Len())
		}
		tab.RangeKeyGroup(-1, func(string, int, int) bool { t.Fatal("key group -1 has entries"); return false })
		tab.RangeKeyGroup(maxPar, func(string, int, int) bool { t.Fatal("key group 16 has entries"); return false })

		// Keys of a type without a Java hash go by their codec's encoding, as
		// in KeyBy.
		type pair struct{ A, B int }
		pt, err := NewTable[pair, struct{}, int](bk.new(t, maxPar), "pairs")
		if err != nil {
			t.Fatal(err)
		}
		pt.Put(pair{1, 2}, struct{}{}, 3)
		kg := pt.KeyGroupOf(pair{1, 2})
		n := 0
		pt.RangeKeyGroup(kg, func(p pair, _ struct{}, v int) bool { n++; return p == pair{1, 2} && v == 3 })
		if n != 1 {
			t.Fatalf("key group %d of pair{1, 2} has %d entries, want 1", kg, n)
		}
	})
}
