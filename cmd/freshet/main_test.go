package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBenchNexmarkJSON(t *testing.T) {
	dir := t.TempDir()
	jsonFile, chart := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	out, err := run(t, "bench", "nexmark", "--query", "q1", "--events", "20000", "--parallelism", "2",
		"--checkpoint-interval", "50ms", "--verify", "--json", jsonFile, "--chart", chart)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "q1: 20000 events in") || !strings.Contains(out, "output verified") {
		t.Errorf("output:\n%s", out)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rs []map[string]any
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1:\n%s", len(rs), b)
	}
	r := rs[0]
	for _, k := range []string{"query", "events", "seconds", "events_per_second", "events_per_second_per_core",
		"cores", "parallelism", "checkpoint_interval_ms", "state_backend", "p50_ms", "p99_ms", "checkpoints"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if r["query"] != "q1" || r["events"] != 20000.0 || r["parallelism"] != 2.0 || r["checkpoint_interval_ms"] != 50.0 ||
		r["state_backend"] != "heap" || r["verified"] != true {
		t.Errorf("result %v", r)
	}
	if r["seconds"].(float64) <= 0 || r["events_per_second"].(float64) <= 0 ||
		r["events_per_second_per_core"].(float64)*r["cores"].(float64) < r["events_per_second"].(float64)*0.999 {
		t.Errorf("figures do not add up: %v", r)
	}
	if r["outputs"] != 18400.0 { // 46 bids in every 50 events
		t.Errorf("outputs %v, want 18400", r["outputs"])
	}
	svg, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte(">q1<")) || !bytes.Contains(svg, []byte("158 K")) {
		t.Errorf("chart:\n%s", svg)
	}
	// bench chart draws the same chart from the saved results.
	again := filepath.Join(dir, "again.svg")
	if out, err := run(t, "bench", "chart", jsonFile, again); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b, _ := os.ReadFile(again); !bytes.Equal(b, svg) {
		t.Errorf("bench chart drew\n%s\nwant\n%s", b, svg)
	}
}

func TestBenchNexmarkPebble(t *testing.T) {
	out, err := run(t, "bench", "nexmark", "--query", "q3,q12", "--events", "10000", "--state-backend", "pebble", "--verify")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "q12") || strings.Count(out, "true") != 2 {
		t.Errorf("output:\n%s", out)
	}
}

func TestBenchNexmarkBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--query", "q10"}, `unknown query "q10"`},
		{[]string{"--events", "-5"}, "--events must be positive"},
		{[]string{"--events", "0"}, "--events must be positive"},
		{[]string{"--state-backend", "rocksdb"}, "--state-backend must be heap or pebble"},
		{[]string{"--parallelism", "0"}, "--parallelism must be at least 1"},
		{[]string{"--checkpoint-interval", "-1s"}, "--checkpoint-interval must not be negative"},
		{[]string{"--frobnicate"}, "unknown flag"},
		{[]string{"extra"}, "unknown command"},
	} {
		out, err := run(t, append([]string{"bench", "nexmark", "--events", "1000"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q\n%s", tc.args, err, tc.want, out)
		}
	}
}
