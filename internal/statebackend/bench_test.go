package statebackend

import "testing"

type benchWindow struct{ Start, End int64 }

// BenchmarkTableRef is the window operator's per-element access: 10,000
// keys, each updated ten times in a window, windows cleared as the next
// one fills (one key group lookup per key and window, one index lookup per
// access).
func BenchmarkTableRef(b *testing.B) {
	const keys, perKey = 10_000, 10
	tab, err := NewTable[int64, benchWindow, int64](NewHeap(0), "contents")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	w := benchWindow{0, 1000}
	for i := 0; b.Loop(); i++ {
		if i%(keys*perKey) == 0 && i > 0 {
			old := w
			w = benchWindow{w.End, w.End + 1000}
			for k := range int64(keys) {
				tab.Delete(k, old)
			}
		}
		p, _ := tab.Ref(int64(i*7919)%keys, w)
		*p++
	}
}
