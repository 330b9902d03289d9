package freshet_test

import (
	"context"
	"math"
	"sync"
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
// The slow partition goes on only once the fast one's watermark for its
// record has been emitted (flushed closes).
type twoPartitions struct{ flushed <-chan struct{} }

func (twoPartitions) Boundedness() source.Boundedness { return source.Bounded }
func (twoPartitions) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{0}}), nil
}
func (p twoPartitions) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &twoPartitionReader{flushed: p.flushed}, nil
}

type twoPartitionReader struct {
	flushed <-chan struct{}
	step    int
	split   bool
	done    bool
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
		return source.NothingAvailable, nil
	case 1:
		// The fast partition's watermark (999) has been emitted: the
		// source's must follow the slow partition, not the fast one.
		select {
		case <-r.flushed:
		default:
			return source.NothingAvailable, nil
		}
		so.ForSplit("slow").CollectWithTimestamp(3, 150)
		r.step++
		return source.MoreAvailable, nil
	}
	return source.EndOfInput, nil
}
func (r *twoPartitionReader) Available() <-chan struct{} { return r.flushed }
func (r *twoPartitionReader) AddSplits([]hsSplit)        { r.split = true }
func (r *twoPartitionReader) NotifyNoMoreSplits()        { r.done = true }
func (r *twoPartitionReader) Close() error               { return nil }

func TestWatermarksPerSplitInsideASource(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(2*ms))
	flushed, once := make(chan struct{}), &sync.Once{}
	strategy := watermark.ForGenerator(func() watermark.Generator[int64] {
		return &lastSeen{max: math.MinInt64 + 1, last: 1000, flushed: flushed, once: once}
	})
	src := freshet.FromSourceWithWatermarks[int64, hsSplit](env, twoPartitions{flushed}, strategy, "partitions")
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

func (*twoPartitionReader) SnapshotState(int64) ([]hsSplit, error) { return nil, nil }

func (s twoPartitions) RestoreEnumerator(ctx source.EnumeratorContext[hsSplit], _ []hsSplit) (source.Enumerator[hsSplit], error) {
	return s.CreateEnumerator(ctx)
}
