package rest

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"net/http"

	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/metric"
)

var (
	subtaskLabels   = []string{"job", "vertex", "subtask"}
	descRecordsIn   = prometheus.NewDesc("freshet_subtask_records_in_total", "Records a subtask took from its inputs.", subtaskLabels, nil)
	descRecordsOut  = prometheus.NewDesc("freshet_subtask_records_out_total", "Records a subtask sent to its output channels.", subtaskLabels, nil)
	descBytesIn     = prometheus.NewDesc("freshet_subtask_bytes_in_total", "Encoded bytes a subtask took from its inputs (0 inside a process).", subtaskLabels, nil)
	descBytesOut    = prometheus.NewDesc("freshet_subtask_bytes_out_total", "Encoded bytes a subtask sent (0 inside a process).", subtaskLabels, nil)
	descBPSeconds   = prometheus.NewDesc("freshet_subtask_backpressured_seconds_total", "Time a subtask waited for room downstream.", subtaskLabels, nil)
	descBPRatio     = prometheus.NewDesc("freshet_subtask_backpressure_ratio", "Fraction of about the last second a subtask waited for room downstream.", subtaskLabels, nil)
	descWatermark   = prometheus.NewDesc("freshet_subtask_input_watermark_milliseconds", "A subtask's current input watermark (absent before the first).", subtaskLabels, nil)
	descJobUp       = prometheus.NewDesc("freshet_job_info", "A job known to the JobManager, 1 per job with its state.", []string{"job", "name", "state"}, nil)
	descRestarts    = prometheus.NewDesc("freshet_job_restarts_total", "Times a job restarted after a failure.", []string{"job"}, nil)
	descCheckpoints = prometheus.NewDesc("freshet_job_checkpoints", "A job's recent checkpoints by state.", []string{"job", "state"}, nil)
	descCkDuration  = prometheus.NewDesc("freshet_job_last_checkpoint_duration_seconds", "Duration of a job's latest completed checkpoint.", []string{"job"}, nil)
	descCkSize      = prometheus.NewDesc("freshet_job_last_checkpoint_size_bytes", "State size of a job's latest completed checkpoint.", []string{"job"}, nil)
)

// userPrefix begins the Prometheus name of every metric an operator
// registered: freshet_operator_<name>.
const userPrefix = "freshet_operator_"

// userLabels label the metrics operators registered.
var userLabels = []string{"job", "vertex", "subtask", "operator"}

// userMetrics emits the metrics operators registered, one family per
// name. Names are only known at a scrape, so the collectors that call it
// describe nothing (prometheus' unchecked collectors). A name used by
// one operator for a counter and by another for a gauge is exported as
// the kind seen first; kinds, from the scrape's start, remembers them.
type userMetrics struct {
	kinds map[string]metric.Kind
	descs map[string]*prometheus.Desc
}

func newUserMetrics() *userMetrics {
	return &userMetrics{kinds: map[string]metric.Kind{}, descs: map[string]*prometheus.Desc{}}
}

func (u *userMetrics) emit(ch chan<- prometheus.Metric, ms []metrics.UserMetric, job, vertex, subtask string) {
	for _, m := range ms {
		if k, ok := u.kinds[m.Name]; ok && k != m.Kind {
			continue
		}
		d, ok := u.descs[m.Name]
		if !ok {
			u.kinds[m.Name] = m.Kind
			d = prometheus.NewDesc(userPrefix+m.Name, "A "+m.Kind.String()+" an operator registered (package metric).", userLabels, nil)
			u.descs[m.Name] = d
		}
		typ := prometheus.GaugeValue
		if m.Kind == metric.KindCounter {
			typ = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(d, typ, m.Value.Value, job, vertex, subtask, m.Operator)
	}
}

// jobCollector exports what the Dispatcher reports, at each scrape: the
// same numbers as the REST API. It describes nothing: the names of the
// metrics operators register are only known at a scrape.
type jobCollector struct{ d Dispatcher }

func (c *jobCollector) Describe(chan<- *prometheus.Desc) {}

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx := context.Background()
	jobs, err := c.d.Jobs(ctx)
	if err != nil {
		return
	}
	user := newUserMetrics()
	for _, js := range jobs {
		j, err := c.d.Job(ctx, js.ID)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descJobUp, prometheus.GaugeValue, 1, j.ID, j.Name, j.State)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(j.Restarts), j.ID)
		for _, v := range j.Vertices {
			for _, s := range v.Subtasks {
				snap := metrics.SubtaskSnapshot{RecordsIn: s.Metrics.ReadRecords, RecordsOut: s.Metrics.WriteRecords,
					BytesIn: s.Metrics.ReadBytes, BytesOut: s.Metrics.WriteBytes, BackPressureRatio: s.BackPressureRatio,
					InputWatermark: metrics.NoWatermark}
				snap.BackPressuredSum = msDuration(s.BackPressuredMillis)
				if s.InputWatermark != nil {
					snap.InputWatermark = *s.InputWatermark
				}
				for _, m := range s.UserMetrics {
					k := metric.KindGauge
					if m.Type == metric.KindCounter.String() {
						k = metric.KindCounter
					}
					snap.User = append(snap.User, metrics.UserMetric{Operator: m.Operator, Value: metric.Value{Name: m.Name, Kind: k, Value: m.Value}})
				}
				emitSubtask(ch, user, snap, j.ID, v.ID, strconv.Itoa(s.Subtask))
			}
		}
		ck, err := c.d.Checkpoints(ctx, js.ID)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descCheckpoints, prometheus.GaugeValue, float64(ck.Counts.Completed), j.ID, "completed")
		ch <- prometheus.MustNewConstMetric(descCheckpoints, prometheus.GaugeValue, float64(ck.Counts.Failed), j.ID, "failed")
		ch <- prometheus.MustNewConstMetric(descCheckpoints, prometheus.GaugeValue, float64(ck.Counts.InProgress), j.ID, "in_progress")
		if l := ck.Latest.Completed; l != nil {
			ch <- prometheus.MustNewConstMetric(descCkDuration, prometheus.GaugeValue, float64(l.Duration)/1000, j.ID)
			ch <- prometheus.MustNewConstMetric(descCkSize, prometheus.GaugeValue, float64(l.StateSize), j.ID)
		}
	}
}

func emitSubtask(ch chan<- prometheus.Metric, user *userMetrics, s metrics.SubtaskSnapshot, labels ...string) {
	ch <- prometheus.MustNewConstMetric(descRecordsIn, prometheus.CounterValue, float64(s.RecordsIn), labels...)
	ch <- prometheus.MustNewConstMetric(descRecordsOut, prometheus.CounterValue, float64(s.RecordsOut), labels...)
	ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(s.BytesIn), labels...)
	ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(s.BytesOut), labels...)
	ch <- prometheus.MustNewConstMetric(descBPSeconds, prometheus.CounterValue, s.BackPressuredSum.Seconds(), labels...)
	ch <- prometheus.MustNewConstMetric(descBPRatio, prometheus.GaugeValue, s.BackPressureRatio, labels...)
	if s.InputWatermark != metrics.NoWatermark {
		ch <- prometheus.MustNewConstMetric(descWatermark, prometheus.GaugeValue, float64(s.InputWatermark), labels...)
	}
	user.emit(ch, s.User, labels[0], labels[1], labels[2])
}

// subtaskCollector exports a TaskManager's registry. Like jobCollector
// it describes nothing.
type subtaskCollector struct{ reg *metrics.Registry }

func (c subtaskCollector) Describe(chan<- *prometheus.Desc) {}

func (c subtaskCollector) Collect(ch chan<- prometheus.Metric) {
	user := newUserMetrics()
	for _, s := range c.reg.Snapshot("", timeNow()) {
		emitSubtask(ch, user, s, s.Job, strconv.Itoa(s.Vertex), strconv.Itoa(s.Subtask))
	}
}

// TaskManagerMetrics is the /metrics handler of a TaskManager process:
// its subtasks' counters, with the same names as the JobManager's.
func TaskManagerMetrics(reg *metrics.Registry) http.Handler {
	r := prometheus.NewRegistry()
	r.MustRegister(subtaskCollector{reg: reg})
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{})
}
