package coordinator

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func acts(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, "; ")
}

func must(t *testing.T, got []Action, want string) {
	t.Helper()
	if g := acts(got); g != want {
		t.Fatalf("actions %q, want %q", g, want)
	}
}

func newC(t *testing.T, cfg Config, subtasks ...string) *Coordinator {
	t.Helper()
	c, err := New(cfg, subtasks, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(t0)
	return c
}

func TestTriggersOnTheIntervalAndCompletesOnAllAcks(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond}, "a", "b")
	must(t, c.Tick(at(99)), "")
	must(t, c.Tick(at(100)), "Trigger(1)")
	must(t, c.Tick(at(200)), "") // one in progress: max concurrent 1
	must(t, c.Ack(at(210), 1, "a", 10), "")
	must(t, c.Ack(at(211), 1, "a", 10), "") // duplicate
	must(t, c.Ack(at(220), 1, "b", 5), "Complete(1)")
	must(t, c.Ack(at(221), 1, "b", 5), "") // late
	// The next is due an interval after the previous trigger, which has passed.
	must(t, c.Tick(at(220)), "Trigger(2)")
	if id, ok := c.Latest(); !ok || id != 1 {
		t.Fatalf("latest %d %v", id, ok)
	}
	h := c.History()
	if len(h) != 2 || h[0].Status != Completed || h[0].Size != 15 || h[0].Duration != 120*time.Millisecond || h[0].Acked != 2 ||
		h[1].Status != InProgress || !h[1].Triggered.Equal(at(220)) {
		t.Fatalf("history %+v", h)
	}
}

func TestMinPauseBetweenCheckpoints(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond, MinPause: 80 * time.Millisecond}, "a")
	must(t, c.Tick(at(100)), "Trigger(1)")
	must(t, c.Ack(at(150), 1, "a", 0), "Complete(1)")
	if d, _ := c.Deadline(); !d.Equal(at(230)) {
		t.Fatalf("deadline %v, want the end of checkpoint 1 plus the pause", d.Sub(t0))
	}
	must(t, c.Tick(at(229)), "")
	must(t, c.Tick(at(230)), "Trigger(2)")
}

func TestConcurrentCheckpointsAndSubsumption(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond, MaxConcurrent: 2, TolerableFailures: 0}, "a", "b")
	must(t, c.Tick(at(100)), "Trigger(1)")
	must(t, c.Tick(at(200)), "Trigger(2)")
	must(t, c.Tick(at(300)), "")
	must(t, c.Ack(at(310), 2, "a", 1), "")
	must(t, c.Ack(at(320), 2, "b", 1), "Abort(1: checkpoint 1 subsumed by 2); Complete(2)") // no job failure
	must(t, c.Ack(at(330), 1, "a", 1), "")
}

func TestTimeoutAndTolerableFailures(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, TolerableFailures: 1}, "a")
	must(t, c.Tick(at(100)), "Trigger(1)")
	if d, _ := c.Deadline(); !d.Equal(at(150)) {
		t.Fatalf("deadline %v, want the timeout", d.Sub(t0))
	}
	must(t, c.Tick(at(150)), "Abort(1: checkpoint 1 expired after 50ms)")
	must(t, c.Tick(at(200)), "Trigger(2)")
	got := c.Tick(at(250))
	if acts(got) != "Abort(2: checkpoint 2 expired after 50ms); FailJob(2: freshet: exceeded the tolerable number of failed checkpoints (2 in a row, 1 tolerated): checkpoint 2 expired after 50ms)" || !errors.Is(got[1].Err, ErrTooManyFailures) {
		t.Fatalf("actions %q", acts(got))
	}
	// A completed checkpoint resets the count.
	c = newC(t, Config{Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, TolerableFailures: 1}, "a")
	c.Tick(at(100))
	must(t, c.Tick(at(150)), "Abort(1: checkpoint 1 expired after 50ms)")
	c.Tick(at(200))
	must(t, c.Ack(at(210), 2, "a", 0), "Complete(2)")
	c.Tick(at(310))
	must(t, c.Tick(at(360)), "Abort(3: checkpoint 3 expired after 50ms)")
}

func TestDeclineFailsTheCheckpoint(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond, TolerableFailures: 5}, "a", "b")
	c.Tick(at(100))
	got := c.Decline(at(110), 1, "b", errors.New("disk full"))
	if acts(got) != "Abort(1: checkpoint 1 declined by b: disk full)" {
		t.Fatalf("actions %q", acts(got))
	}
	must(t, c.Ack(at(120), 1, "a", 0), "")
	if h := c.History(); h[0].Status != Failed || h[0].Failure == nil {
		t.Fatalf("history %+v", h)
	}
}

func TestFinishedSubtasksOweNothing(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond}, "src", "sink")
	c.Tick(at(100))
	must(t, c.Ack(at(110), 1, "sink", 0), "")
	must(t, c.Finished(at(120), "src"), "Complete(1)")
	must(t, c.Tick(at(200)), "Trigger(2)")
	if h := c.History(); h[1].Expected != 1 {
		t.Fatalf("checkpoint 2 expects %d subtasks, want 1", h[1].Expected)
	}
	must(t, c.Finished(at(210), "sink"), "Complete(2)")
	must(t, c.Tick(at(1000)), "") // nothing running: no more checkpoints
}

func TestRestoredJobContinuesNumbering(t *testing.T) {
	c, err := New(Config{Interval: time.Second}, []string{"a"}, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(t0)
	must(t, c.Tick(at(1000)), "Trigger(8)")
	for i := 0; i < 5; i++ {
		c.Ack(at(1000*(i+1)+1), int64(8+i), "a", 0)
		c.Tick(at(1000 * (i + 2)))
	}
	if h := c.History(); len(h) != 3 || h[0].ID != 11 {
		t.Fatalf("history keeps %d from %d, want the last 3 from 11", len(h), h[0].ID)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Interval: time.Second, MinPause: -1}, {Interval: time.Second, Timeout: -1},
		{Interval: time.Second, MaxConcurrent: -1}, {Interval: time.Second, TolerableFailures: -1}} {
		if _, err := New(cfg, nil, 1, 0); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// A savepoint is triggered at once, beside a checkpoint in progress and
// before the interval; its failure does not count against the tolerable
// failures, nor its completion reset them.
func TestTriggerNow(t *testing.T) {
	c := newC(t, Config{Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond}, "a")
	must(t, c.TriggerNow(at(10)), "Trigger(1)")
	must(t, c.Tick(at(60)), "Abort(1: checkpoint 1 expired after 50ms)")
	must(t, c.Tick(at(110)), "Trigger(2)")
	must(t, c.TriggerNow(at(120)), "Trigger(3)")
	must(t, c.Ack(at(130), 3, "a", 5), "Abort(2: checkpoint 2 subsumed by 3); Complete(3)")
	h := c.History()
	if len(h) != 3 || !h[0].Savepoint || h[1].Savepoint || !h[2].Savepoint {
		t.Fatalf("history %+v", h)
	}
	// With no subtask running there is nothing to trigger.
	c = newC(t, Config{Interval: 100 * time.Millisecond}, "a")
	c.Finished(at(5), "a")
	must(t, c.TriggerNow(at(10)), "")
}
