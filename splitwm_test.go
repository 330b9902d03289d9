package freshet_test

import (
	"context"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// twoPartitions is a bounded source of one split whose reader reads two
// partitions, as a Kafka reader would, and emits each through its own
// split output: partition "fast" is far ahead in event time of "slow".
type twoPartitions struct{}

func (twoPartitions) Boundedness() source.Boundedness { return source.Bounded }
func (twoPartitions) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{0}}), nil
}
func (twoPartitions) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &twoPartitionReader{}, nil
}

type twoPartitionReader struct {
	step  int
	until time.Time
	split bool
	done  bool
}

func (r *twoPartitionReader) Start(context.Context) error { return nil }
func (r *twoPartitionReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	if !r.split {
		if r.done {
			return source.EndOfInput, nil
		}
		return source.NothingAvailable, nil
	}
	so := out.(source.SplitOutputs[int64])
	switch r.step {
	case 0:
		so.ForSplit("fast").CollectWithTimestamp(1, 1000)
		so.ForSplit("slow").CollectWithTimestamp(2, 100)
		r.step++
		// Let several periodic watermarks pass before the slow partition
		// goes on: they must follow the slow partition, not the fast one.
		r.until = time.Now().Add(50 * time.Millisecond)
		return source.NothingAvailable, nil
	case 1:
		if time.Now().Before(r.until) {
			return source.NothingAvailable, nil
		}
		so.ForSplit("slow").CollectWithTimestamp(3, 150)
		r.step++
		return source.MoreAvailable, nil
	}
	return source.EndOfInput, nil
}
func (r *twoPartitionReader) Available() <-chan struct{} {
	ch := make(chan struct{})
	if !r.until.IsZero() {
		time.AfterFunc(time.Until(r.until), func() { close(ch) })
	}
	return ch
}
func (r *twoPartitionReader) AddSplits([]hsSplit) { r.split = true }
func (r *twoPartitionReader) NotifyNoMoreSplits() { r.done = true }
func (r *twoPartitionReader) Close() error        { return nil }

func TestWatermarksPerSplitInsideASource(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(2*ms))
	strategy := watermark.ForMonotonousTimestamps[int64]()
	src := freshet.FromSourceWithWatermarks[int64, hsSplit](env, twoPartitions{}, strategy, "partitions")
	late := freshet.NewOutputTag[int64]("late")
	counted := freshet.WindowAggregateProcess(freshet.WindowAll(src, window.TumblingEventTime[int64](time.Second, 0)).SideOutputLateData(late), intCount{},
		freshet.ProcessWindowFunc[int, struct{}, window.TimeWindow, winCount](countWindows[struct{}]))
	got := freshet.Collect(counted)
	dropped := freshet.Collect(freshet.SideOutput(counted, late))
	execute(t, env)
	// With one watermark for the whole reader, the fast partition's 1000
	// would make the slow partition's 150 late; per split it is on time.
	if len(dropped.Values()) != 0 {
		t.Fatalf("late: %v", dropped.Values())
	}
	if vs := got.Values(); len(vs) != 2 || vs[0].N+vs[1].N != 3 {
		t.Fatalf("windows %v, want all 3 records counted", vs)
	}
}
