// Command sensor is the running example of "Stream Processing with Apache
// Flink": temperature sensors report readings in Fahrenheit; the job converts
// them to Celsius, keeps the hottest reading per sensor, sends readings
// above a threshold to a side output of alerts, and computes each sensor's
// average temperature per minute of event time, with readings arriving up
// to 5 seconds out of order.
//
//	go run ./examples/sensor            # 10 sensors, 2,000 readings
//	go run ./examples/sensor -n 0       # unbounded, 100 readings/s; Ctrl-C stops it
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// SensorReading is one measurement of one sensor.
type SensorReading struct {
	ID          string
	Timestamp   int64 // milliseconds since the epoch
	Temperature float64
}

func (r SensorReading) String() string {
	return fmt.Sprintf("%s@%d: %.2f", r.ID, r.Timestamp, r.Temperature)
}

// Alerts is the side output of readings above the threshold.
var Alerts = freshet.NewOutputTag[SensorReading]("over-threshold")

// Reading is the simulated reading number i: sensor_(i mod 10), one
// reading per sensor every second (up to 4 s late, so out of order),
// temperatures wandering around 65°F.
func Reading(i int64) SensorReading {
	sensor := i % 10
	// A cheap deterministic pseudo-random walk, so runs can be compared.
	h := uint64(i)*0x9E3779B97F4A7C15 ^ uint64(sensor)<<32
	h ^= h >> 29
	noise := float64(h%1000)/1000*20 - 10
	return SensorReading{
		ID:          fmt.Sprintf("sensor_%d", sensor+1),
		Timestamp:   1_700_000_000_000 + (i/10)*1000 - int64(h%4000),
		Temperature: 65 + 15*math.Sin(float64(i/10)/50+float64(sensor)) + noise,
	}
}

// ToCelsius converts a reading from Fahrenheit.
func ToCelsius(r SensorReading) SensorReading {
	r.Temperature = (r.Temperature - 32) * 5 / 9
	return r
}

// Pipeline adds the job's dataflow: it returns the running maximum per
// sensor and the readings above threshold °C.
func Pipeline(readings *freshet.Stream[SensorReading], threshold float64) (maxTemps, alerts *freshet.Stream[SensorReading]) {
	celsius := freshet.Map(readings, ToCelsius).Name("Fahrenheit to Celsius")
	// Drop broken sensors' readings (below absolute zero is impossible).
	valid := celsius.Filter(func(r SensorReading) bool { return r.Temperature > -273.15 }).Name("Valid readings")
	checked := freshet.Process(valid, freshet.ProcessFunc(
		func(ctx *freshet.Context, r SensorReading, out freshet.Collector[SensorReading]) error {
			if r.Temperature > threshold {
				freshet.Output(ctx, Alerts, r)
			}
			out.Collect(r)
			return nil
		})).Name("Threshold check")
	byID := freshet.KeyBy(checked, func(r SensorReading) string { return r.ID })
	maxTemps = freshet.MaxBy(byID, freshet.FieldOf[SensorReading, float64]("Temperature")).Name("Hottest per sensor")
	return maxTemps, freshet.SideOutput(checked, Alerts)
}

// SensorAverage is a sensor's average temperature in one window.
type SensorAverage struct {
	ID          string
	WindowEnd   int64
	Temperature float64
	Readings    int
}

func (a SensorAverage) String() string {
	return fmt.Sprintf("%s avg %.2f over %d readings in minute ending %s", a.ID, a.Temperature, a.Readings,
		time.UnixMilli(a.WindowEnd).UTC().Format("15:04:05"))
}

// Watermarks gives readings their timestamps, allowing 5 s of disorder.
func Watermarks() watermark.Strategy[SensorReading] {
	return watermark.ForBoundedOutOfOrderness[SensorReading](5 * time.Second).
		WithTimestampAssigner(func(r SensorReading, _ int64) int64 { return r.Timestamp })
}

// averager sums and counts temperatures.
type averager struct{}

func (averager) CreateAccumulator() [2]float64 { return [2]float64{} }
func (averager) Add(r SensorReading, acc [2]float64) [2]float64 {
	return [2]float64{acc[0] + r.Temperature, acc[1] + 1}
}
func (averager) Merge(a, b [2]float64) [2]float64    { return [2]float64{a[0] + b[0], a[1] + b[1]} }
func (averager) GetResult(acc [2]float64) [2]float64 { return acc }

// Averages computes each sensor's average temperature per minute of event
// time (readings must carry timestamps).
func Averages(readings *freshet.Stream[SensorReading]) *freshet.Stream[SensorAverage] {
	byID := freshet.KeyBy(readings, func(r SensorReading) string { return r.ID })
	minutes := freshet.Window(byID, window.TumblingEventTime[SensorReading](time.Minute, 0))
	return freshet.WindowAggregateProcess(minutes, averager{},
		freshet.ProcessWindowFunc(
			func(ctx *freshet.WindowContext[string, window.TimeWindow], sums [][2]float64, out freshet.Collector[SensorAverage]) error {
				s := sums[0]
				out.Collect(SensorAverage{ID: ctx.Key(), WindowEnd: ctx.Window().End, Temperature: s[0] / s[1], Readings: int(s[1])})
				return nil
			})).Name("Average per minute")
}

func run(ctx context.Context, n int64, threshold float64) error {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	opts := []source.GeneratorOption{source.GeneratorCount(n)}
	if n == 0 {
		opts = []source.GeneratorOption{source.GeneratorRate(100)}
	}
	readings := freshet.FromSourceWithWatermarks(env, source.Generator(Reading, opts...), Watermarks(), "Sensor source")
	maxTemps, alerts := Pipeline(readings, threshold)
	freshet.SinkTo(maxTemps, &hottestSink{}, "Hottest readings").SetParallelism(1)
	Averages(freshet.Map(readings, ToCelsius)).Print()
	freshet.SinkTo(alerts, &freshet.PrintSink[SensorReading]{W: os.Stdout, Prefix: "ALERT"}, "Alerts")
	return env.Execute(ctx, "Sensor readings")
}

// hottestSink keeps the latest running maximum of each sensor and prints
// them when the input ends: a small example of a custom sink.
type hottestSink struct{}

func (*hottestSink) CreateWriter(sink.InitContext) (sink.Writer[SensorReading], error) {
	return &hottestWriter{max: map[string]SensorReading{}}, nil
}

type hottestWriter struct{ max map[string]SensorReading }

func (w *hottestWriter) Write(r SensorReading, _ sink.Context) error { w.max[r.ID] = r; return nil }

func (w *hottestWriter) Flush(endOfInput bool) error {
	if !endOfInput {
		return nil
	}
	ids := make([]string, 0, len(w.max))
	for id := range w.max {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Println("HOTTEST", w.max[id])
	}
	return nil
}

func (w *hottestWriter) Close() error { return nil }

func main() {
	n := flag.Int64("n", 2000, "number of readings; 0 runs until interrupted")
	threshold := flag.Float64("threshold", 30, "alert above this temperature in °C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *n, *threshold); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "sensor:", err)
		os.Exit(1)
	}
}
