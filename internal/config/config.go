// Package config is the configuration of a Freshet cluster's processes:
// the JobManager, TaskManagers and the jobs they run. Keys are Flink's
// where Flink has one ("rest.port", "taskmanager.numberOfTaskSlots",
// "execution.buffer-timeout"), so a Flink user finds them where they
// expect.
//
// A Config starts from the defaults, then takes, each over the one
// before, a YAML file (flat keys, "rest.port: 8081", or nested ones,
// "rest: {port: 8081}"), environment variables (FRESHET_ and the key in
// capitals with dots and dashes as underscores: FRESHET_REST_PORT) and
// dynamic properties ("-D rest.port=8081", and the command's own flags).
// An unknown key or a bad value is an error that names the key, the value
// and where it came from (file and line, variable, flag).
package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// ErrInvalid is wrapped by every error about a configuration.
var ErrInvalid = errors.New("freshet: invalid configuration")

// Config is the resolved configuration.
type Config struct {
	RESTAddress string // rest.address: the address the REST API listens on
	RESTPort    int    // rest.port
	RPCAddress  string // jobmanager.rpc.address: where TaskManagers reach the JobManager
	RPCPort     int    // jobmanager.rpc.port

	Slots int // taskmanager.numberOfTaskSlots
	// DataPort is the first of the ports a TaskManager's workers take
	// data connections on, one per job's worker counting up
	// (taskmanager.data.port); 0 picks free ports.
	DataPort int
	// SegmentSize is the size of a network buffer
	// (taskmanager.memory.segment-size).
	SegmentSize       int64
	BuffersPerChannel int           // taskmanager.network.memory.buffers-per-channel
	BufferTimeout     time.Duration // execution.buffer-timeout; 0 flushes every record

	DefaultParallelism  int           // parallelism.default
	CheckpointInterval  time.Duration // execution.checkpointing.interval; 0 takes none
	CheckpointDir       string        // execution.checkpointing.dir
	SavepointDir        string        // execution.checkpointing.savepoint-dir
	StateBackend        string        // state.backend.type: heap or pebble
	IncrementalState    bool          // state.backend.incremental
	Restart             Restart
	HeartbeatInterval   time.Duration // heartbeat.interval
	HeartbeatTimeout    time.Duration // heartbeat.timeout
	CancellationTimeout time.Duration // task.cancellation.timeout; 0 waits for ever

	ArtifactDir   string // artifact.dir: where uploaded job programs are kept
	UploadMaxSize int64  // artifact.max-size: the largest upload accepted

	sources map[string]string // key → where its value came from
}

// Restart is the restart strategy (restart-strategy.*).
type Restart struct {
	// Type is none, fixed-delay, failure-rate or exponential-delay.
	Type string
	// Attempts and Delay: fixed-delay.
	Attempts int
	Delay    time.Duration
	// MaxFailures per FailureInterval, with Delay: failure-rate.
	MaxFailures     int
	FailureInterval time.Duration
	// InitialBackoff to MaxBackoff: exponential-delay.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// key is one configuration key: its default and how to set it.
type key struct {
	name string
	def  string
	doc  string
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

func intKey(name, def, doc string, field func(*Config) *int, minimum int) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < minimum {
			return fmt.Errorf("%d is below %d", n, minimum)
		}
		*field(c) = n
		return nil
	}, get: func(c *Config) string { return strconv.Itoa(*field(c)) }}
}

func portKey(name, def, doc string, field func(*Config) *int) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%q is not a port number (0 to 65535)", v)
		}
		*field(c) = n
		return nil
	}, get: func(c *Config) string { return strconv.Itoa(*field(c)) }}
}

func durationKey(name, def, doc string, field func(*Config) *time.Duration) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}, get: func(c *Config) string { return field(c).String() }}
}

func sizeKey(name, def, doc string, field func(*Config) *int64) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("%q is not a positive size", v)
		}
		*field(c) = n
		return nil
	}, get: func(c *Config) string { return strconv.FormatInt(*field(c), 10) + "b" }}
}

func stringKey(name, def, doc string, field func(*Config) *string, allowed ...string) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if len(allowed) > 0 && !slices.Contains(allowed, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		*field(c) = v
		return nil
	}, get: func(c *Config) string { return *field(c) }}
}

func boolKey(name, def, doc string, field func(*Config) *bool) key {
	return key{name: name, def: def, doc: doc, set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}, get: func(c *Config) string { return strconv.FormatBool(*field(c)) }}
}

// keys are every key, in the order Keys lists them.
var keys = []key{
	stringKey("rest.address", "0.0.0.0", "the address the REST API listens on", func(c *Config) *string { return &c.RESTAddress }),
	portKey("rest.port", "8081", "the REST API's port", func(c *Config) *int { return &c.RESTPort }),
	stringKey("jobmanager.rpc.address", "localhost", "where TaskManagers reach the JobManager", func(c *Config) *string { return &c.RPCAddress }),
	portKey("jobmanager.rpc.port", "6123", "the JobManager's RPC port", func(c *Config) *int { return &c.RPCPort }),
	intKey("taskmanager.numberOfTaskSlots", "1", "the slots a TaskManager offers", func(c *Config) *int { return &c.Slots }, 1),
	portKey("taskmanager.data.port", "0", "the first data port of the TaskManager's workers, one per job, counting up (0: any free port)", func(c *Config) *int { return &c.DataPort }),
	sizeKey("taskmanager.memory.segment-size", "32kb", "the size of a network buffer", func(c *Config) *int64 { return &c.SegmentSize }),
	intKey("taskmanager.network.memory.buffers-per-channel", "4", "buffers per input channel, announced to its sender as credit", func(c *Config) *int { return &c.BuffersPerChannel }, 1),
	durationKey("execution.buffer-timeout", "100ms", "how long a partly filled buffer waits before it is sent (0: every record)", func(c *Config) *time.Duration { return &c.BufferTimeout }),
	intKey("parallelism.default", "1", "the parallelism of jobs that set none", func(c *Config) *int { return &c.DefaultParallelism }, 1),
	durationKey("execution.checkpointing.interval", "0", "the checkpoint interval (0: no checkpoints)", func(c *Config) *time.Duration { return &c.CheckpointInterval }),
	stringKey("execution.checkpointing.dir", "", "where checkpoints are kept (a directory or bucket URL)", func(c *Config) *string { return &c.CheckpointDir }),
	stringKey("execution.checkpointing.savepoint-dir", "", "the default directory of savepoints", func(c *Config) *string { return &c.SavepointDir }),
	stringKey("state.backend.type", "heap", "the state backend: heap or pebble", func(c *Config) *string { return &c.StateBackend }, "heap", "pebble"),
	boolKey("state.backend.incremental", "false", "incremental checkpoints (pebble)", func(c *Config) *bool { return &c.IncrementalState }),
	stringKey("restart-strategy.type", "exponential-delay", "none, fixed-delay, failure-rate or exponential-delay", func(c *Config) *string { return &c.Restart.Type },
		"none", "fixed-delay", "failure-rate", "exponential-delay"),
	intKey("restart-strategy.fixed-delay.attempts", "1", "restarts before the job fails", func(c *Config) *int { return &c.Restart.Attempts }, 0),
	durationKey("restart-strategy.fixed-delay.delay", "1s", "the delay before a restart", func(c *Config) *time.Duration { return &c.Restart.Delay }),
	intKey("restart-strategy.failure-rate.max-failures-per-interval", "1", "failures tolerated per interval", func(c *Config) *int { return &c.Restart.MaxFailures }, 1),
	durationKey("restart-strategy.failure-rate.failure-rate-interval", "1min", "the failure-rate interval", func(c *Config) *time.Duration { return &c.Restart.FailureInterval }),
	durationKey("restart-strategy.exponential-delay.initial-backoff", "1s", "the first restart's delay", func(c *Config) *time.Duration { return &c.Restart.InitialBackoff }),
	durationKey("restart-strategy.exponential-delay.max-backoff", "1min", "the longest delay", func(c *Config) *time.Duration { return &c.Restart.MaxBackoff }),
	durationKey("heartbeat.interval", "10s", "how often heartbeats are sent", func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	durationKey("heartbeat.timeout", "50s", "how long without a heartbeat before a peer is lost", func(c *Config) *time.Duration { return &c.HeartbeatTimeout }),
	durationKey("task.cancellation.timeout", "180s", "how long a cancelled task may take before its worker is killed (0: wait)", func(c *Config) *time.Duration { return &c.CancellationTimeout }),
	stringKey("artifact.dir", "", "where uploaded job programs are kept (default: a directory under the temporary directory)", func(c *Config) *string { return &c.ArtifactDir }),
	sizeKey("artifact.max-size", "256mb", "the largest job program accepted", func(c *Config) *int64 { return &c.UploadMaxSize }),
}

func lookup(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// Key describes a configuration key.
type Key struct {
	Name, Default, Doc, Env string
}

// Keys lists every key with its default.
func Keys() []Key {
	out := make([]Key, len(keys))
	for i, k := range keys {
		out[i] = Key{Name: k.name, Default: k.def, Doc: k.doc, Env: EnvName(k.name)}
	}
	return out
}

// EnvName is the environment variable of key name.
func EnvName(name string) string {
	return "FRESHET_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(name))
}

// Default returns the configuration of defaults only.
func Default() *Config {
	c := &Config{sources: map[string]string{}}
	for _, k := range keys {
		if err := k.set(c, k.def); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", k.name, err)) // a bug in the table
		}
		c.sources[k.name] = "default"
	}
	return c
}

// Set sets key name to value, recording from as where it came from; the
// error names all three.
func (c *Config) Set(name, value, from string) error {
	k, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%w: %s: unknown key %q%s", ErrInvalid, from, name, suggest(name))
	}
	if err := k.set(c, value); err != nil {
		return fmt.Errorf("%w: %s: %s: %v", ErrInvalid, from, name, err)
	}
	c.sources[name] = from
	return nil
}

// Source tells where key name's value came from: "default", a file and
// line, an environment variable or a flag.
func (c *Config) Source(name string) string { return c.sources[name] }

// suggest names the known key closest to an unknown one, if any is close.
func suggest(name string) string {
	best, bestD := "", len(name)/3+1
	for _, k := range keys {
		if d := distance(strings.ToLower(name), strings.ToLower(k.name)); d < bestD {
			best, bestD = k.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// LoadFile applies the keys of a YAML file.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: reading configuration file: %v", ErrInvalid, err)
	}
	return c.LoadYAML(path, data)
}

// LoadYAML applies the keys of YAML document data, named name in errors.
func (c *Config) LoadYAML(name string, data []byte) error {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if err := c.walk(name, "", doc.Body); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) walk(file, prefix string, n ast.Node) error {
	where := func(n ast.Node) string {
		if t := n.GetToken(); t != nil && t.Position != nil {
			return fmt.Sprintf("%s:%d", file, t.Position.Line)
		}
		return file
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, v := range n.Values {
			if err := c.walk(file, prefix, v); err != nil {
				return err
			}
		}
		return nil
	case *ast.MappingValueNode:
		k := n.Key.GetToken().Value
		return c.walk(file, join(k), n.Value)
	case *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		return fmt.Errorf("%w: %s: %s: a list is not a value of any key", ErrInvalid, where(n), prefix)
	case *ast.CommentNode:
		return nil
	default:
		if prefix == "" {
			return fmt.Errorf("%w: %s: the file is not a mapping of keys to values", ErrInvalid, where(n))
		}
		t := n.GetToken()
		if t == nil {
			return fmt.Errorf("%w: %s: %s: no value", ErrInvalid, where(n), prefix)
		}
		return c.Set(prefix, t.Value, where(n))
	}
}

// LoadEnv applies the environment variables of the keys (FRESHET_REST_PORT
// for rest.port) found by getenv, such as os.LookupEnv.
func (c *Config) LoadEnv(getenv func(string) (string, bool)) error {
	for _, k := range keys {
		env := EnvName(k.name)
		if v, ok := getenv(env); ok {
			if err := c.Set(k.name, v, "environment variable "+env); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadProperties applies dynamic properties "key=value" (Flink's -D).
func (c *Config) LoadProperties(props []string) error {
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("%w: -D %q: want key=value", ErrInvalid, p)
		}
		if err := c.Set(strings.TrimSpace(k), v, "-D "+strings.TrimSpace(k)); err != nil {
			return err
		}
	}
	return nil
}

// Load resolves a configuration: defaults, then the file at path (if
// path is not empty), then the environment, then props.
func Load(path string, props []string) (*Config, error) {
	c := Default()
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return nil, err
		}
	}
	if err := c.LoadEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	if err := c.LoadProperties(props); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks what no single key can: values that must agree.
func (c *Config) Validate() error {
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return fmt.Errorf("%w: heartbeat.timeout %v (%s) must exceed heartbeat.interval %v (%s)", ErrInvalid,
			c.HeartbeatTimeout, c.Source("heartbeat.timeout"), c.HeartbeatInterval, c.Source("heartbeat.interval"))
	}
	if c.SegmentSize < 256 || c.SegmentSize > 16<<20 {
		return fmt.Errorf("%w: taskmanager.memory.segment-size %d bytes (%s) must be between 256 bytes and 16mb", ErrInvalid,
			c.SegmentSize, c.Source("taskmanager.memory.segment-size"))
	}
	if c.Restart.Type == "exponential-delay" && c.Restart.MaxBackoff < c.Restart.InitialBackoff {
		return fmt.Errorf("%w: restart-strategy.exponential-delay.max-backoff %v is below initial-backoff %v", ErrInvalid,
			c.Restart.MaxBackoff, c.Restart.InitialBackoff)
	}
	return nil
}

// Effective lists every key with its value and where it came from,
// sorted by key, for a process to log at start.
func (c *Config) Effective() [][3]string {
	out := make([][3]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [3]string{k.name, k.get(c), c.sources[k.name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// ParseDuration reads a duration as Flink writes them ("100 ms", "10s",
// "1 min", "2h", a bare number of milliseconds) or as Go does ("1m30s").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if d, err := time.ParseDuration(t); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	}
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a duration (such as 100ms, 10 s, 1 min)", s)
	}
	var u time.Duration
	switch unit {
	case "", "ms", "milli", "millis", "millisecond", "milliseconds":
		u = time.Millisecond
	case "s", "sec", "secs", "second", "seconds":
		u = time.Second
	case "m", "min", "mins", "minute", "minutes":
		u = time.Minute
	case "h", "hour", "hours":
		u = time.Hour
	case "d", "day", "days":
		u = 24 * time.Hour
	default:
		return 0, fmt.Errorf("%q has an unknown unit %q (ms, s, min, h, d)", s, unit)
	}
	return time.Duration(f * float64(u)), nil
}

// ParseSize reads a size in bytes as Flink writes them: "32kb", "64 mb",
// "1g", a bare number of bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (such as 32kb, 64 mb)", s)
	}
	var m int64
	switch unit {
	case "", "b", "bytes":
		m = 1
	case "k", "kb", "kib", "kibibytes":
		m = 1 << 10
	case "m", "mb", "mib", "mebibytes":
		m = 1 << 20
	case "g", "gb", "gib", "gibibytes":
		m = 1 << 30
	default:
		return 0, fmt.Errorf("%q has an unknown unit %q (b, kb, mb, gb)", s, unit)
	}
	if n > (1<<62)/m {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * m, nil
}
