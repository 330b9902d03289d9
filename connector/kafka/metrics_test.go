package kafka_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// readerCtx is a reader's context with a metric group of its own.
type readerCtx struct{ m *metric.Group }

func (readerCtx) SubtaskIndex() int        { return 0 }
func (readerCtx) Parallelism() int         { return 1 }
func (readerCtx) SendSplitRequest()        {}
func (c readerCtx) Metrics() *metric.Group { return c.m }

// values collects what a reader emits.
type values struct{ vs []string }

func (o *values) Collect(v string)                       { o.vs = append(o.vs, v) }
func (o *values) CollectWithTimestamp(v string, _ int64) { o.vs = append(o.vs, v) }

// valueBytes is the size of the values "0" … "n-1".
func valueBytes(n int) int64 {
	var b int64
	for i := range n {
		b += int64(len(strconv.Itoa(i)))
	}
	return b
}

// TestReaderMetrics reads a partition of 1000 records: after the first
// poll, which emits 256 of the fetched 1000, the lag is the 744 left and
// bytesRead the values' bytes emitted; at the end the lag is 0.
func TestReaderMetrics(t *testing.T) {
	const n = 1000
	brokers := newCluster(t, 1, "in")
	produce(t, brokers, "in", 1, n)
	g := metric.NewGroup()
	r, err := (&kafka.Source[string]{Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings}).CreateReader(readerCtx{g})
	if err != nil {
		t.Fatal(err)
	}
	r.AddSplits([]kafka.Split{{Topic: "in", Partition: 0, Next: 0, Stop: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := &values{}
	// poll polls until records arrive.
	poll := func() {
		t.Helper()
		for before := len(out.vs); len(out.vs) == before; {
			st, err := r.PollNext(out)
			if err != nil {
				t.Fatal(err)
			}
			if st != source.NothingAvailable || len(out.vs) > before {
				continue
			}
			select {
			case <-r.Available():
			case <-ctx.Done():
				t.Fatalf("timed out waiting for records, %d read", len(out.vs))
			}
		}
	}
	for len(out.vs) == 0 {
		poll()
	}
	first := len(out.vs)
	want := []metric.Value{
		{Name: "bytesRead", Kind: metric.KindCounter, Value: float64(valueBytes(first))},
		{Name: "lag", Kind: metric.KindGauge, Value: float64(n - first)},
	}
	if got := g.Values(); first != 256 || !reflect.DeepEqual(got, want) {
		t.Errorf("after the first poll (%d records): %+v, want 256 records and %+v", first, got, want)
	}
	for len(out.vs) < n {
		poll()
	}
	want = []metric.Value{
		{Name: "bytesRead", Kind: metric.KindCounter, Value: float64(valueBytes(n))},
		{Name: "lag", Kind: metric.KindGauge, Value: 0},
	}
	if got := g.Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("after every record: %+v, want %+v", got, want)
	}
}

// initCtx is a writer's context with a metric group of its own.
type initCtx struct {
	ctx context.Context
	m   *metric.Group
}

func (c initCtx) Context() context.Context { return c.ctx }
func (initCtx) SubtaskIndex() int          { return 0 }
func (initCtx) Parallelism() int           { return 1 }
func (initCtx) Attempt() int               { return 0 }
func (c initCtx) Metrics() *metric.Group   { return c.m }

func (initCtx) RestoredCheckpointID() (int64, bool) { return 0, false }

// TestWriterMetrics counts the bytes the brokers acknowledged, keys and
// values, for each delivery guarantee.
func TestWriterMetrics(t *testing.T) {
	const n = 500
	brokers := newCluster(t, 3, "out")
	for _, g := range []kafka.DeliveryGuarantee{kafka.AtLeastOnce, kafka.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			m := metric.NewGroup()
			s := &kafka.Sink[int]{Brokers: brokers, DeliveryGuarantee: g, TransactionalIDPrefix: "metrics-" + g.String(),
				Serializer: func(v int) (*kgo.Record, error) {
					return &kgo.Record{Topic: "out", Key: []byte("k"), Value: []byte(strconv.Itoa(v))}, nil
				}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, hooks, err := s.CreateCheckpointedWriter(initCtx{ctx, m}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := w.Write(i, sink.Context{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(true); err != nil {
				t.Fatal(err)
			}
			if hooks.NotifyCheckpointComplete != nil {
				if err := hooks.NotifyCheckpointComplete(sink.EndOfInput); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			want := []metric.Value{{Name: "bytesWritten", Kind: metric.KindCounter, Value: float64(n + valueBytes(n))}}
			if got := m.Values(); !reflect.DeepEqual(got, want) {
				t.Errorf("%+v, want %+v", got, want)
			}
		})
	}
}

// TestJobMetrics copies a topic in a bounded job and reads the source's
// and sink's metrics from the REST API's job details: every byte read and
// written, and no lag left.
func TestJobMetrics(t *testing.T) {
	const n = 3000
	brokers := newCluster(t, 3, "in", "out")
	produce(t, brokers, "in", 3, n)
	env := quietEnv(freshet.WithREST("127.0.0.1:0"))
	defer env.Close()
	in := freshet.FromSource(env, &kafka.Source[[]byte]{Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Values, Bounded: true}, "in")
	freshet.SinkTo(in, &kafka.Sink[[]byte]{Brokers: brokers, DeliveryGuarantee: kafka.AtLeastOnce,
		Serializer: func(v []byte) (*kgo.Record, error) { return &kgo.Record{Topic: "out", Value: v}, nil }}, "out")
	if err := execute(t, env, "metrics").Wait(); err != nil {
		t.Fatal(err)
	}
	var jobs struct {
		Jobs []struct{ ID string } `json:"jobs"`
	}
	getJSON(t, "http://"+env.RESTAddress()+"/jobs", &jobs)
	if len(jobs.Jobs) != 1 {
		t.Fatalf("jobs %+v", jobs)
	}
	type userMetric struct {
		Operator, Name, Type string
		Value                float64
	}
	var det struct {
		Vertices []struct {
			Subtasks []struct {
				UserMetrics []userMetric `json:"user-metrics"`
			} `json:"subtasks"`
		} `json:"vertices"`
	}
	getJSON(t, "http://"+env.RESTAddress()+"/jobs/"+jobs.Jobs[0].ID, &det)
	if len(det.Vertices) != 1 || len(det.Vertices[0].Subtasks) != 1 {
		t.Fatalf("job details %+v, want one vertex of one subtask", det)
	}
	b := float64(valueBytes(n))
	want := []userMetric{
		{"in", "bytesRead", "counter", b},
		{"in", "lag", "gauge", 0},
		{"out", "bytesWritten", "counter", b},
	}
	if got := det.Vertices[0].Subtasks[0].UserMetrics; !slices.Equal(got, want) {
		t.Errorf("user metrics %+v, want %+v", got, want)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}
