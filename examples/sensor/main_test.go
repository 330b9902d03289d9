package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
)

func TestToCelsius(t *testing.T) {
	if got := ToCelsius(SensorReading{Temperature: 212}).Temperature; got != 100 {
		t.Fatalf("212°F = %v°C, want 100", got)
	}
}

func TestPipelineExact(t *testing.T) {
	in := []SensorReading{
		{"s1", 1, 50}, {"s2", 2, 104}, {"s1", 3, 95}, {"s2", 4, 68}, {"s1", 5, 59}, {"s3", 6, -500},
	}
	for _, p := range []int{1, 3} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		maxTemps, alerts := Pipeline(freshet.FromElements(env, in...), 30)
		gotMax, gotAlerts := freshet.Collect(maxTemps), freshet.Collect(alerts)
		if err := env.Execute(context.Background(), "sensor"); err != nil {
			t.Fatal(err)
		}
		perSensor := map[string][]SensorReading{}
		for _, r := range gotMax.Values() {
			perSensor[r.ID] = append(perSensor[r.ID], r)
		}
		wantS1 := []SensorReading{{"s1", 1, 10}, {"s1", 3, 35}, {"s1", 3, 35}}
		wantS2 := []SensorReading{{"s2", 2, 40}, {"s2", 2, 40}}
		if p == 1 {
			// One channel per key keeps the input order: the exact sequence.
			if !slices.Equal(perSensor["s1"], wantS1) || !slices.Equal(perSensor["s2"], wantS2) {
				t.Errorf("p=%d: max per sensor %v", p, perSensor)
			}
		}
		// At any parallelism the map is rebalanced, so arrival order per key
		// may change, but every reading yields one update and the last one
		// is the maximum.
		for id, want := range map[string][]SensorReading{"s1": wantS1, "s2": wantS2} {
			got := perSensor[id]
			if len(got) != len(want) || got[len(got)-1] != want[len(want)-1] {
				t.Errorf("p=%d: %s updates %v, want %d ending in %v", p, id, got, len(want), want[len(want)-1])
			}
		}
		if len(perSensor["s3"]) != 0 {
			t.Errorf("p=%d: invalid reading passed the filter: %v", p, perSensor["s3"])
		}
		a := gotAlerts.Values()
		slices.SortFunc(a, func(x, y SensorReading) int { return int(x.Timestamp - y.Timestamp) })
		if want := []SensorReading{{"s2", 2, 40}, {"s1", 3, 35}}; !slices.Equal(a, want) {
			t.Errorf("p=%d: alerts %v, want %v", p, a, want)
		}
	}
}

func TestThresholdCheckWithHarness(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[SensorReading]) *freshet.Stream[SensorReading] {
		maxTemps, _ := Pipeline(in, 30)
		return maxTemps
	}, freshettest.CaptureSideOutput(Alerts))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_ = h.Process(SensorReading{"s1", 1, 104})
	_ = h.Process(SensorReading{"s1", 2, 32})
	if got := h.Values(); len(got) != 2 || got[1].Temperature != 40 {
		t.Errorf("max temps %v", got)
	}
	if side := freshettest.SideOutput(h, Alerts); len(side) != 1 || side[0].Value.Timestamp != 1 {
		t.Errorf("alerts %v", side)
	}
}

func TestRunBounded(t *testing.T) {
	if err := run(context.Background(), 200, 30); err != nil {
		t.Fatal(err)
	}
}

func TestAveragesPerMinuteOutOfOrder(t *testing.T) {
	const m = 60_000
	in := []SensorReading{
		{"s1", 10, 10}, {"s2", 20, 50}, {"s1", m + 5, 40}, {"s1", m - 3000, 20}, // 3 s late, within the bound
		{"s2", 2*m + 1, 0}, {"s1", 30, 30},
	}
	for _, p := range []int{1, 2} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		src := freshet.FromSourceWithWatermarks(env, source.FromSlice(in), Watermarks(), "readings")
		got := freshet.Collect(Averages(src))
		if err := env.Execute(context.Background(), "averages"); err != nil {
			t.Fatal(err)
		}
		avgs := got.Values()
		slices.SortFunc(avgs, func(a, b SensorAverage) int {
			if a.WindowEnd != b.WindowEnd {
				return int(a.WindowEnd - b.WindowEnd)
			}
			return strings.Compare(a.ID, b.ID)
		})
		want := []SensorAverage{
			{"s1", m, 20, 3}, {"s2", m, 50, 1}, {"s1", 2 * m, 40, 1}, {"s2", 3 * m, 0, 1},
		}
		if !slices.Equal(avgs, want) {
			t.Errorf("p=%d: averages %v, want %v", p, avgs, want)
		}
	}
}

func TestGeneratedReadingsAllCounted(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	src := freshet.FromSourceWithWatermarks(env, source.Generator(Reading, source.GeneratorCount(2000)), Watermarks(), "readings")
	got := freshet.Collect(Averages(src))
	if err := env.Execute(context.Background(), "averages"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range got.Values() {
		n += a.Readings
	}
	// Readings are at most 4 s out of order and the bound is 5 s: none is late.
	if n != 2000 {
		t.Fatalf("windows counted %d readings, want 2000", n)
	}
}
