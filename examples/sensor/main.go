// Command sensor is the running example of "Stream Processing with Apache
// Flink": temperature sensors report readings in Fahrenheit; the job converts
// them to Celsius, keeps the hottest reading per sensor, and sends readings
// above a threshold to a side output of alerts.
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

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
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
// reading per sensor every 100 ms, temperatures wandering around 65°F.
func Reading(i int64) SensorReading {
	sensor := i % 10
	// A cheap deterministic pseudo-random walk, so runs can be compared.
	h := uint64(i)*0x9E3779B97F4A7C15 ^ uint64(sensor)<<32
	h ^= h >> 29
	noise := float64(h%1000)/1000*20 - 10
	return SensorReading{
		ID:          fmt.Sprintf("sensor_%d", sensor+1),
		Timestamp:   1_700_000_000_000 + (i/10)*100,
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
	checked := freshet.Process(valid, freshet.ProcessFunc[SensorReading, SensorReading](
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

func run(ctx context.Context, n int64, threshold float64) error {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	opts := []source.GeneratorOption{source.GeneratorCount(n)}
	if n == 0 {
		opts = []source.GeneratorOption{source.GeneratorRate(100)}
	}
	readings := freshet.FromSource(env, source.Generator(Reading, opts...), "Sensor source")
	maxTemps, alerts := Pipeline(readings, threshold)
	maxTemps.Print()
	freshet.SinkTo(alerts, &freshet.PrintSink[SensorReading]{W: os.Stdout, Prefix: "ALERT"}, "Alerts")
	return env.Execute(ctx, "Sensor readings")
}

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
