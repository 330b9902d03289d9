package barrier

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one input to a handler and the actions it must return, written
// as Action.String gives them, joined by "; ".
type step struct {
	in   string // "b ch id [ms]" barrier, "c ch id" cancel, "e ch" end of input, "t ms" tick
	want string
}

func run(t *testing.T, cfg Config, steps []step) {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1000, 0)
	for i, s := range steps {
		var op string
		var a, b, ms int64
		n, _ := fmt.Sscan(s.in, &op, &a, &b, &ms)
		var acts []Action
		switch op {
		case "b":
			acts = h.Barrier(int(a), b, start.Add(time.Duration(ms)*time.Millisecond))
		case "c":
			acts = h.Cancel(int(a), b)
		case "e":
			acts = h.EndOfInput(int(a))
		case "t":
			acts = h.Tick(start.Add(time.Duration(a) * time.Millisecond))
		default:
			t.Fatalf("step %d: bad input %q (%d fields)", i, s.in, n)
		}
		got := make([]string, len(acts))
		for j, x := range acts {
			got[j] = x.String()
		}
		if g := strings.Join(got, "; "); g != s.want {
			t.Fatalf("step %d %q: actions %q, want %q", i, s.in, g, s.want)
		}
	}
}

func TestExactlyOnceAligns(t *testing.T) {
	run(t, Config{Channels: 3, Mode: ExactlyOnce}, []step{
		{"b 0 1", "Block(1, ch 0)"},
		{"b 0 1", ""}, // a second barrier on a channel is ignored
		{"b 2 1", "Block(1, ch 2)"},
		{"b 1 1", "Snapshot(1); UnblockAll"},
		{"b 1 1", ""}, // late duplicate of a completed checkpoint
		{"b 1 2", "Block(2, ch 1)"},
		{"b 0 3", "UnblockAll; Abort(2); Block(3, ch 0)"}, // a newer barrier aborts the pending one
		{"b 2 2", ""},                                     // barrier of the aborted checkpoint
		{"b 1 3", "Block(3, ch 1)"},
		{"b 2 3", "Snapshot(3); UnblockAll"},
	})
}

func TestOneChannelNeverBlocks(t *testing.T) {
	for _, mode := range []Mode{ExactlyOnce, AtLeastOnce} {
		run(t, Config{Channels: 1, Mode: mode}, []step{{"b 0 1", "Snapshot(1)"}, {"b 0 2", "Snapshot(2)"}})
	}
	run(t, Config{Channels: 1, Mode: Unaligned}, []step{{"b 0 1", "Snapshot(1, unaligned); ChannelStateDone(1)"}})
}

func TestEndedChannelsDoNotHoldCheckpointsBack(t *testing.T) {
	run(t, Config{Channels: 3, Mode: ExactlyOnce}, []step{
		{"b 0 1", "Block(1, ch 0)"},
		{"e 1", ""},
		{"e 2", "Snapshot(1); UnblockAll"}, // the only live channel has its barrier
		{"b 0 2", "Snapshot(2)"},
		{"e 0", ""},
	})
	run(t, Config{Channels: 2, Mode: ExactlyOnce}, []step{
		{"b 0 1", "Block(1, ch 0)"},
		{"e 0", ""}, // the blocked channel ends: channel 1 still owes its barrier
		{"b 1 1", "Snapshot(1); UnblockAll"},
	})
}

func TestCancellationBarriers(t *testing.T) {
	run(t, Config{Channels: 2, Mode: ExactlyOnce}, []step{
		{"b 0 1", "Block(1, ch 0)"},
		{"c 1 1", "UnblockAll; Abort(1)"},
		{"b 1 1", ""},
		{"c 0 2", "Abort(2)"}, // declined before any of its barriers arrived here
		{"b 0 2", ""},
		{"c 1 2", ""},
		{"b 0 3", "Block(3, ch 0)"},
		{"b 1 3", "Snapshot(3); UnblockAll"},
	})
}

func TestUnalignedSnapshotsAtTheFirstBarrier(t *testing.T) {
	run(t, Config{Channels: 3, Mode: Unaligned}, []step{
		{"b 1 1", "Snapshot(1, unaligned); Persist(1, ch 0); Persist(1, ch 2)"},
		{"b 0 1", "StopPersist(1, ch 0)"},
		{"e 2", "StopPersist(1, ch 2); ChannelStateDone(1)"},
		{"b 0 2", "Snapshot(2, unaligned); Persist(2, ch 1)"},
		{"b 0 3", "Abort(2); Snapshot(3, unaligned); Persist(3, ch 1)"},
		{"b 1 3", "StopPersist(3, ch 1); ChannelStateDone(3)"},
	})
}

func TestAlignedTimeoutTurnsUnaligned(t *testing.T) {
	cfg := Config{Channels: 3, Mode: ExactlyOnce, AlignedTimeout: 100 * time.Millisecond}
	run(t, cfg, []step{
		{"b 0 1 0", "Block(1, ch 0)"},
		{"t 99", ""},
		{"b 1 1 50", "Block(1, ch 1)"},
		{"t 100", "UnblockAll; Snapshot(1, unaligned); Persist(1, ch 2)"},
		{"t 500", ""},
		{"b 2 1 600", "StopPersist(1, ch 2); ChannelStateDone(1)"},
		// The next checkpoint aligns again; a barrier after the deadline
		// turns it unaligned at once.
		{"b 0 2 1000", "Block(2, ch 0)"},
		{"b 1 2 1200", "Block(2, ch 1); UnblockAll; Snapshot(2, unaligned); Persist(2, ch 2)"},
	})
	h, _ := New(cfg)
	if _, ok := h.Deadline(); ok {
		t.Fatal("deadline with nothing pending")
	}
	h.Barrier(0, 1, time.Unix(5, 0))
	if d, ok := h.Deadline(); !ok || !d.Equal(time.Unix(5, 0).Add(100*time.Millisecond)) {
		t.Fatalf("deadline %v %v, want 100ms after the first barrier", d, ok)
	}
}

func TestAtLeastOnceNeverBlocks(t *testing.T) {
	run(t, Config{Channels: 2, Mode: AtLeastOnce}, []step{
		{"b 0 1", ""},
		{"b 1 1", "Snapshot(1)"},
		{"b 1 2", ""},
		{"b 1 3", "Abort(2)"},
		{"b 0 3", "Snapshot(3)"},
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{Channels: 0}, {Channels: 1, Mode: 9}, {Channels: 1, AlignedTimeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestHandlerDoesNotAllocate: the task calls the handler on its hot path
// between records; a barrier costs no allocation once warmed up.
func TestHandlerDoesNotAllocate(t *testing.T) {
	h, _ := New(Config{Channels: 4, Mode: Unaligned})
	now := time.Unix(0, 0)
	id := int64(0)
	allocs := testing.AllocsPerRun(100, func() {
		id++
		for ch := 0; ch < 4; ch++ {
			h.Barrier(ch, id, now)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per checkpoint", allocs)
	}
}
