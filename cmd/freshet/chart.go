package main

import (
	"bytes"
	"fmt"
	"html"
)

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
		left, right, top = 60.0, 170.0, 50.0
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
	title := "Nexmark throughput, events/s per core"
	if len(rs) > 0 {
		title += fmt.Sprintf(" (Freshet: %d events, parallelism %d, %d cores, %s state", rs[0].Events, rs[0].Parallelism, rs[0].Cores, rs[0].StateBackend)
		if rs[0].CheckpointIntervalMs > 0 {
			title += fmt.Sprintf(", checkpoints every %d s", rs[0].CheckpointIntervalMs/1000)
		}
		title += ")"
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="13" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect x="%.0f" y="30" width="10" height="10" fill="#2b7bba"/><text x="%.0f" y="39">Freshet (this machine)</text>`+"\n", left, left+14)
	fmt.Fprintf(&b, `<rect x="%.0f" y="30" width="10" height="10" fill="#bbbbbb"/><text x="%.0f" y="39">Flink 1.13 (published; exactly-once, RocksDB; another setup)</text>`+"\n", left+170, left+184)
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
