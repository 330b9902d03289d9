package freshettest_test

import (
	"fmt"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
)

// A keyed process function is snapshotted mid-stream and a fresh harness
// continues from the snapshot: its counts and timers carry on.
func ExampleWithRestore() {
	build := func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }),
			freshet.KeyedProcessFunction[string, string, string](countThenFire{}))
	}
	h, _ := freshettest.New(build)
	_ = h.ProcessAt("a", 1)
	_ = h.ProcessAt("a", 2)
	_ = h.ProcessAt("b", 3)
	snap, err := h.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = h.Close()

	r, _ := freshettest.New(build, freshettest.WithRestore(snap))
	defer r.Close()
	_ = r.ProcessAt("a", 4)
	_ = r.Watermark(100)
	fmt.Println(r.Values())
	// Output: [a:3@11 a:3@12 b:1@13 a:3@14]
}
