package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"os"

	"github.com/spf13/cobra"
)

// newChartCmd draws the chart of a saved run.
func newChartCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "chart RESULTS.json CHART.svg",
		Short: "Draw the SVG chart of results saved by bench nexmark --json",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var rs []result
			if err := json.Unmarshal(b, &rs); err != nil {
				return fmt.Errorf("reading %s: %w", args[0], err)
			}
			return os.WriteFile(args[1], chartSVG(rs), 0o644)
		},
	}
}

// flinkPerCore are Flink 1.13's published Nexmark throughputs in events/s
// per core (exactly-once checkpoints, RocksDB state backend), for the
// queries it published.
var flinkPerCore = map[string]float64{
	"q0": 155_000, "q1": 158_000, "q2": 175_000, "q3": 152_000, "q4": 34_000, "q5": 22_000,
	"q7": 12_000, "q8": 146_000, "q9": 14_000, "q11": 40_000, "q12": 76_000,
}

// chartSVG draws a horizontal bar chart of the results' events/s per core,
// each query's Freshet bar above Flink 1.13's published one.
func chartSVG(rs []result) []byte {
	const (
		left, right, top = 60.0, 90.0, 68.0
		width            = 760.0
		barH, gap        = 14.0, 12.0
	)
	top1 := 1.0
	for _, r := range rs {
		top1 = max(top1, r.EventsPerSecondPerCore, flinkPerCore[r.Query])
	}
	plotW := width - left - right
	height := top + float64(len(rs))*(2*barH+gap) + 30
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">Nexmark: events/s per core</text>`+"\n", left)
	if len(rs) > 0 {
		setup := fmt.Sprintf("Freshet: %d events, parallelism %d on %d cores, %s state, ", rs[0].Events, rs[0].Parallelism, rs[0].Cores, rs[0].StateBackend)
		if rs[0].CheckpointIntervalMs > 0 {
			setup += fmt.Sprintf("checkpoints every %g s", float64(rs[0].CheckpointIntervalMs)/1000)
		} else {
			setup += "no checkpoints"
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="36">%s</text>`+"\n", left, html.EscapeString(setup))
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="46" width="10" height="10" fill="#2b7bba"/><text x="%.0f" y="55">Freshet (embedded runtime, this machine)</text>`+"\n", left, left+14)
	fmt.Fprintf(&b, `<rect x="%.0f" y="46" width="10" height="10" fill="#bbbbbb"/><text x="%.0f" y="55">Flink 1.13, published (exactly-once, RocksDB; a different setup)</text>`+"\n", left+250, left+264)
	y := top
	bar := func(v float64, fill string) {
		w := v / top1 * plotW
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`, left, y, w, barH-2, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+w+4, y+barH-4, human(v))
	}
	for _, r := range rs {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" font-weight="bold">%s</text>`+"\n", left-8, y+barH+4, html.EscapeString(r.Query))
		bar(r.EventsPerSecondPerCore, "#2b7bba")
		y += barH
		if f, ok := flinkPerCore[r.Query]; ok {
			bar(f, "#bbbbbb")
		} else {
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" fill="#888">no published Flink figure</text>`+"\n", left+4, y+barH-4)
		}
		y += barH + gap
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// human formats n as 155 K or 1.2 M.
func human(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f K", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
