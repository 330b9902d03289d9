package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if c.RESTPort != 8081 || c.RPCPort != 6123 || c.Slots != 1 || c.SegmentSize != 32<<10 ||
		c.BufferTimeout != 100*time.Millisecond || c.HeartbeatInterval != 10*time.Second ||
		c.HeartbeatTimeout != 50*time.Second || c.StateBackend != "heap" || c.Restart.Type != "exponential-delay" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Source("rest.port"); got != "default" {
		t.Fatalf("rest.port from %q, want default", got)
	}
}

// TestLayers: the file overrides the defaults, the environment the file,
// dynamic properties the environment; each value knows where it came from.
func TestLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := `# a Flink-like file
rest.port: 9000
taskmanager.numberOfTaskSlots: 4
execution:
  buffer-timeout: 5 ms
  checkpointing:
    interval: 10 s
    dir: /tmp/checkpoints
state.backend.type: pebble
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FRESHET_TASKMANAGER_NUMBEROFTASKSLOTS": "8", "FRESHET_HEARTBEAT_INTERVAL": "2s", "UNRELATED": "x"}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadProperties([]string{"taskmanager.numberOfTaskSlots=16", "execution.buffer-timeout=0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		got, want any
		key, from string
	}{
		{c.RESTPort, 9000, "rest.port", path + ":2"},
		{c.Slots, 16, "taskmanager.numberOfTaskSlots", "-D taskmanager.numberOfTaskSlots"},
		{c.BufferTimeout, time.Duration(0), "execution.buffer-timeout", "-D execution.buffer-timeout"},
		{c.CheckpointInterval, 10 * time.Second, "execution.checkpointing.interval", path + ":7"},
		{c.CheckpointDir, "/tmp/checkpoints", "execution.checkpointing.dir", path + ":8"},
		{c.StateBackend, "pebble", "state.backend.type", path + ":9"},
		{c.HeartbeatInterval, 2 * time.Second, "heartbeat.interval", "environment variable FRESHET_HEARTBEAT_INTERVAL"},
		{c.RPCPort, 6123, "jobmanager.rpc.port", "default"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.key, ch.got, ch.want)
		}
		if got := c.Source(ch.key); got != ch.from {
			t.Errorf("%s from %q, want %q", ch.key, got, ch.from)
		}
	}
	eff := c.Effective()
	if len(eff) != len(Keys()) {
		t.Fatalf("effective lists %d keys, want %d", len(eff), len(Keys()))
	}
	for _, e := range eff {
		if e[0] == "rest.port" && (e[1] != "9000" || e[2] != path+":2") {
			t.Fatalf("effective rest.port = %v", e)
		}
	}
}

// TestErrors: every mistake names the key, the value and where it was.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		props      []string
		want       []string
	}{
		{"unknown key", "rest.prot: 1\n", nil, []string{"f.yaml:1", `unknown key "rest.prot"`, `did you mean "rest.port"`}},
		{"bad port", "a: 1\n", nil, []string{`unknown key "a"`}},
		{"port range", "rest:\n  port: 70000\n", nil, []string{"f.yaml:2", "rest.port", `"70000" is not a port number`}},
		{"bad duration", "execution.buffer-timeout: soon\n", nil, []string{"execution.buffer-timeout", `"soon" is not a duration`}},
		{"bad unit", "execution.buffer-timeout: 5 fortnights\n", nil, []string{`unknown unit "fortnights"`}},
		{"bad size", "taskmanager.memory.segment-size: 12 parsecs\n", nil, []string{"segment-size", `unknown unit "parsecs"`}},
		{"zero slots", "taskmanager.numberOfTaskSlots: 0\n", nil, []string{"numberOfTaskSlots", "0 is below 1"}},
		{"bad backend", "state.backend.type: rocksdb\n", nil, []string{"state.backend.type", `"rocksdb" is not one of heap, pebble`}},
		{"list", "rest.port: [1, 2]\n", nil, []string{"rest.port", "a list"}},
		{"scalar file", "just words\n", nil, []string{"not a mapping"}},
		{"malformed", "rest: {port: 1\n", nil, []string{"f.yaml"}},
		{"property without =", "", []string{"rest.port"}, []string{`-D "rest.port": want key=value`}},
		{"bad property", "", []string{"heartbeat.timeout=1s"}, []string{"heartbeat.timeout", "must exceed heartbeat.interval"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.LoadYAML("f.yaml", []byte(tc.yaml))
			if err == nil {
				err = c.LoadProperties(tc.props)
			}
			if err == nil {
				err = c.Validate()
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an error wrapping ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"100ms": 100 * time.Millisecond, "100 ms": 100 * time.Millisecond, "250": 250 * time.Millisecond,
		"10 s": 10 * time.Second, "1 min": time.Minute, "1m30s": 90 * time.Second, "2h": 2 * time.Hour, "1 d": 24 * time.Hour,
		"0": 0, "1.5 s": 1500 * time.Millisecond,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1s", "ten", "5 weeks", "1..2s"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"32kb": 32 << 10, "64 mb": 64 << 20, "1g": 1 << 30, "100": 100, "7 b": 7, "2 KiB": 2 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1 tb", "99999999999999999999", "9999999999999 gb"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("rest.port: 9000\nexecution:\n  buffer-timeout: 5 ms\n"))
	f.Add([]byte("a: [1, {b: c}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := c.LoadYAML("fuzz.yaml", data); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
