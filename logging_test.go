package freshet_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
)

// logEntry is one record a recordingHandler kept, with the attributes of
// its logger and of the call merged.
type logEntry struct {
	Level slog.Level
	Msg   string
	Attrs map[string]slog.Value
}

func (e logEntry) str(key string) string {
	v, ok := e.Attrs[key]
	if !ok {
		return "<missing>"
	}
	return v.String()
}

func (e logEntry) int(key string) int64 {
	v, ok := e.Attrs[key]
	if !ok || v.Kind() != slog.KindInt64 {
		return -1
	}
	return v.Int64()
}

// logs is what a recordingHandler saw, in order, at every level.
type logs struct {
	mu      sync.Mutex
	entries []logEntry
}

func (l *logs) all() []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// where returns the entries whose message starts with prefix.
func (l *logs) where(prefix string) []logEntry {
	var out []logEntry
	for _, e := range l.all() {
		if strings.HasPrefix(e.Msg, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func msgs(es []logEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Msg
	}
	return out
}

// recordingHandler is a slog.Handler that keeps every record in a logs.
type recordingHandler struct {
	logs  *logs
	attrs []slog.Attr
}

func newLogger() (*slog.Logger, *logs) {
	l := &logs{}
	return slog.New(&recordingHandler{logs: l}), l
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	e := logEntry{Level: r.Level, Msg: r.Message, Attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		e.Attrs[a.Key] = a.Value.Resolve()
	}
	r.Attrs(func(a slog.Attr) bool {
		e.Attrs[a.Key] = a.Value.Resolve()
		return true
	})
	h.logs.mu.Lock()
	h.logs.entries = append(h.logs.entries, e)
	h.logs.mu.Unlock()
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordingHandler{logs: h.logs, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

// keyedSumJob is a bounded job of two vertices at parallelism 2: the
// source, and the keyed sum chained with the sink.
func keyedSumJob(env *freshet.Env, n int) {
	s := freshet.FromSlice(env, ints(n))
	freshet.Collect(freshet.Sum(freshet.KeyBy(s, func(v int) int { return v % 5 }), freshet.Self[int]()))
}

// checkJobAttrs checks that every entry names the job.
func checkJobAttrs(t *testing.T, es []logEntry, job, name string) {
	t.Helper()
	for _, e := range es {
		if e.str("job") != job || e.str("job_name") != name {
			t.Errorf("%q logged job=%s job_name=%s, want %s and %s", e.Msg, e.str("job"), e.str("job_name"), job, name)
		}
	}
}

// subtaskKey names a subtask in the logs.
type subtaskKey struct {
	operator string
	subtask  int64
}

// subtaskLogs groups the "subtask …" entries by subtask, in order.
func subtaskLogs(l *logs) map[subtaskKey][]logEntry {
	out := map[subtaskKey][]logEntry{}
	for _, e := range l.where("subtask ") {
		k := subtaskKey{e.str("operator"), e.int("subtask")}
		out[k] = append(out[k], e)
	}
	return out
}

func TestLogsFinishedJobLifecycle(t *testing.T) {
	logger, l := newLogger()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(logger))
	keyedSumJob(env, 100)
	c, err := env.ExecuteAsync(context.Background(), "logged sum")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}

	jobs := l.where("job ")
	if got, want := msgs(jobs), []string{"job submitted", "job running", "job finished"}; !slices.Equal(got, want) {
		t.Errorf("job messages = %q, want %q", got, want)
	}
	checkJobAttrs(t, jobs, c.ID(), "logged sum")
	for _, e := range jobs {
		if e.Level != slog.LevelInfo {
			t.Errorf("%q logged at %s, want INFO", e.Msg, e.Level)
		}
	}

	subtasks := subtaskLogs(l)
	var keys []subtaskKey
	for _, op := range []string{"Collection Source", "Keyed Sum(value) -> Collect Sink"} {
		for i := range 2 {
			keys = append(keys, subtaskKey{op, int64(i)})
		}
	}
	if len(subtasks) != len(keys) {
		t.Errorf("logs name %d subtasks, want %d: %v", len(subtasks), len(keys), subtasks)
	}
	for _, k := range keys {
		es := subtasks[k]
		if got, want := msgs(es), []string{"subtask deployed", "subtask initializing", "subtask running", "subtask finished"}; !slices.Equal(got, want) {
			t.Errorf("%s subtask %d logged %q, want %q", k.operator, k.subtask, got, want)
		}
		checkJobAttrs(t, es, c.ID(), "logged sum")
		for _, e := range es {
			if e.int("attempt") != 0 || e.Level != slog.LevelInfo {
				t.Errorf("%s subtask %d: %q at %s with attempt %d, want INFO and attempt 0", k.operator, k.subtask, e.Msg, e.Level, e.int("attempt"))
			}
		}
	}

	// The source coordinator logs which splits went to which subtask.
	assigned := map[int64]string{}
	for _, e := range l.where("splits assigned") {
		if e.str("operator") != "Collection Source" || e.str("job") != c.ID() {
			t.Errorf("split assignment logged with operator %s, job %s", e.str("operator"), e.str("job"))
		}
		assigned[e.int("subtask")] += e.str("splits")
	}
	if len(assigned) != 2 || assigned[0] == "" || assigned[1] == "" || assigned[0] == assigned[1] {
		t.Errorf("split assignments per subtask = %v, want distinct splits for subtasks 0 and 1", assigned)
	}
}

func TestLogsFailedJobWithRootCause(t *testing.T) {
	logger, l := newLogger()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(logger))
	freshet.Collect(freshet.Process(freshet.FromSlice(env, ints(10)), freshet.ProcessFunction[int, int](failing{})).Name("validator"))
	err := env.Execute(context.Background(), "logged failure")
	if err == nil {
		t.Fatal("Execute = nil, want the failure")
	}

	jobs := l.where("job ")
	if got, want := msgs(jobs), []string{"job submitted", "job running", "job failing", "job failed"}; !slices.Equal(got, want) {
		t.Fatalf("job messages = %q, want %q", got, want)
	}
	failed := jobs[3]
	if failed.Level != slog.LevelError || failed.str("error") != err.Error() {
		t.Errorf("job failed logged at %s with error %q, want ERROR with %q", failed.Level, failed.str("error"), err)
	}
	if !strings.Contains(jobs[2].str("error"), "bad record 3") {
		t.Errorf("job failing logged error %q, want the root cause", jobs[2].str("error"))
	}

	subtaskFailed := l.where("subtask failed")
	if len(subtaskFailed) != 1 {
		t.Fatalf("%d subtasks logged a failure, want 1: %v", len(subtaskFailed), subtaskFailed)
	}
	e := subtaskFailed[0]
	if e.Level != slog.LevelWarn || e.str("operator") != "Collection Source -> validator -> Collect Sink" ||
		!strings.Contains(e.str("error"), "bad record 3") || !strings.Contains(e.str("error"), `"validator"`) {
		t.Errorf("subtask failure logged as %s %v", e.Level, e.Attrs)
	}
	// The other subtask was cancelled because of the failure.
	for k, es := range subtaskLogs(l) {
		last := es[len(es)-1].Msg
		if k.subtask == e.int("subtask") && last != "subtask failed" || k.subtask != e.int("subtask") && last != "subtask cancelled" && last != "subtask finished" {
			t.Errorf("%s subtask %d ended with %q", k.operator, k.subtask, last)
		}
	}
}

func TestLogsCancelledJob(t *testing.T) {
	defer goleak.VerifyNone(t)
	logger, l := newLogger()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(logger))
	var produced, seen atomic.Int64
	s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "endless")
	freshet.SinkTo[int64](s.Rebalance(), slowSink{seen: &seen}, "count")
	c, err := env.ExecuteAsync(context.Background(), "logged cancel")
	if err != nil {
		t.Fatal(err)
	}
	for seen.Load() < 1000 || len(l.where("subtask running")) < 4 {
		time.Sleep(time.Millisecond)
	}
	c.Cancel()
	if err := c.Wait(); err != nil {
		t.Fatalf("Wait = %v, want nil for a cancelled job", err)
	}

	jobs := l.where("job ")
	if got, want := msgs(jobs), []string{"job submitted", "job running", "job cancelling", "job cancelled"}; !slices.Equal(got, want) {
		t.Errorf("job messages = %q, want %q", got, want)
	}
	checkJobAttrs(t, jobs, c.ID(), "logged cancel")
	subtasks := subtaskLogs(l)
	if len(subtasks) != 4 {
		t.Errorf("logs name %d subtasks, want 4", len(subtasks))
	}
	for k, es := range subtasks {
		if got, want := msgs(es), []string{"subtask deployed", "subtask initializing", "subtask running", "subtask cancelled"}; !slices.Equal(got, want) {
			t.Errorf("%s subtask %d logged %q, want %q", k.operator, k.subtask, got, want)
		}
	}
}

func TestLogsDoNotGrowWithRecords(t *testing.T) {
	count := func(n int) int {
		logger, l := newLogger()
		env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(logger))
		keyedSumJob(env, n)
		if err := env.Execute(context.Background(), "counted"); err != nil {
			t.Fatal(err)
		}
		return len(l.all())
	}
	few, many := count(10), count(100_000)
	if few != many {
		t.Errorf("a job over 10 records logged %d lines, over 100000 records %d; want the same", few, many)
	}
}

func TestWithLoggerRejectsNil(t *testing.T) {
	env := freshet.NewEnv(freshet.WithLogger(nil))
	freshet.Collect(freshet.FromElements(env, 1))
	if err := env.Execute(context.Background(), "nil logger"); !errors.Is(err, freshet.ErrInvalidConfig) || !strings.Contains(err.Error(), "logger") {
		t.Errorf("Execute = %v, want ErrInvalidConfig naming the logger", err)
	}
}
