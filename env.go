package freshet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/freshet-io/freshet/internal/cluster"
	clusterconfig "github.com/freshet-io/freshet/internal/config"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/restart"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/internal/task"
)

// Env is where a job's dataflow is declared and from where it is executed
// (Flink's StreamExecutionEnvironment). An Env is not safe for concurrent use
// while the dataflow is being built.
type Env struct {
	cfg   config
	nodes []*graph.Node
	errs  []error
	rest  restState
}

type config struct {
	parallelism      int
	parallelismSet   bool // by WithParallelism: a cluster's submission does not override it
	maxParallelism   int
	batchSize        int
	bufferTimeout    time.Duration
	bufferTimeoutSet bool // by WithBufferTimeout: a cluster's default does not override it
	autoWatermark    time.Duration
	gateCapacity     int
	chaining         bool
	encode           bool
	taskManagers     int
	network          *cluster.MiniNetwork // nil: TaskManagers joined in memory
	logger           *slog.Logger         // nil: slog.Default() when the job starts
	cancelTimeout    time.Duration
	cancelTimeoutSet bool            // by WithCancellationTimeout: a cluster's default does not override it
	restart          RestartStrategy // zero: NoRestart, or exponential delay with checkpoints
	checkpoint       *checkpointConfig
	restoreFrom      string
	allowNonRestored bool
	stateBackend     statebackend.Config
	stateBackendSet  bool   // by WithStateBackend: a cluster's default does not override it
	restAddr         string // "": no REST API
	jobManager       string // "": embedded, unless FRESHET_JOBMANAGER is set
}

// Option configures an Env.
type Option func(*config) error

// WithParallelism sets the default parallelism of operators (default 1).
func WithParallelism(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("parallelism must be at least 1, got %d", n)
		}
		c.parallelism, c.parallelismSet = n, true
		return nil
	}
}

// WithMaxParallelism sets the default maximum parallelism, the number of key
// groups of keyed state (default 128, at most 32768).
func WithMaxParallelism(n int) Option {
	return func(c *config) error {
		if n < 1 || n > keygroup.UpperBoundMaxParallelism {
			return fmt.Errorf("max parallelism must be between 1 and %d, got %d", keygroup.UpperBoundMaxParallelism, n)
		}
		c.maxParallelism = n
		return nil
	}
}

// WithBatchSize sets how many records a subtask groups into one batch per
// downstream channel before handing it over (default 256).
func WithBatchSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("batch size must be at least 1, got %d", n)
		}
		c.batchSize = n
		return nil
	}
}

// WithBufferTimeout sets the longest a record waits in a partial batch while
// its subtask is busy (default 100ms; a subtask that waits for input flushes
// at once). Zero flushes only when batches fill or the subtask waits.
func WithBufferTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("buffer timeout must not be negative, got %s", d)
		}
		c.bufferTimeout, c.bufferTimeoutSet = d, true
		return nil
	}
}

// WithAutoWatermarkInterval sets how often periodic watermark generators
// emit (Flink's auto-watermark interval, default 200 ms). 0 turns periodic
// watermarks off; punctuated generators and end of input still emit.
func WithAutoWatermarkInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("auto-watermark interval must not be negative, got %s", d)
		}
		c.autoWatermark = d
		return nil
	}
}

// WithChannelCapacity sets how many batches each input channel buffers before
// its producer blocks (default 16); this bounds the memory in flight.
func WithChannelCapacity(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("channel capacity must be at least 1, got %d", n)
		}
		c.gateCapacity = n
		return nil
	}
}

// WithChaining turns operator chaining on (the default) or off.
func WithChaining(on bool) Option {
	return func(c *config) error { c.chaining = on; return nil }
}

// WithForcedSerialization makes every exchange between subtasks encode and
// decode its records, as they would be between processes, even when both
// subtasks run in this process. Tests use it to prove a job's types survive
// the network.
func WithForcedSerialization() Option {
	return func(c *config) error { c.encode = true; return nil }
}

// WithTaskManagers sets how many TaskManagers the embedded cluster starts
// (default 1). Records between subtasks of different TaskManagers are
// encoded, as between processes, so the job's types need codecs.
func WithTaskManagers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("task managers must be at least 1, got %d", n)
		}
		c.taskManagers = n
		return nil
	}
}

// WithNetworkDataPlane makes the TaskManagers of the embedded cluster (see
// WithTaskManagers) exchange records over TCP, as the workers of a
// distributed cluster do: each TaskManager gets a network manager of its
// own listening on a port of 127.0.0.1 the system picks, and the records
// between subtasks of different TaskManagers cross loopback connections
// in 32 KiB buffers with credit-based flow control (see docs/network.md).
// Without it they pass encoded in memory. It is for testing and measuring
// the network data plane within one process; a job with one TaskManager
// makes no connection.
func WithNetworkDataPlane() Option {
	return func(c *config) error {
		if c.network == nil {
			c.network = &cluster.MiniNetwork{}
		}
		return nil
	}
}

// WithLogger sets where the runtime logs the lifecycle of the environment's
// jobs: job submitted, running, finished, failed or cancelled; every subtask
// deployed, running and ended; the source splits assigned to each subtask.
// Nothing is logged per record. The default is slog.Default(), looked up
// when a job starts.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		c.logger = l
		return nil
	}
}

// WithCancellationTimeout sets how long a subtask may take to stop once its
// job is cancelled — by JobClient.Cancel, by the end of Execute's context,
// or because another subtask failed — as Flink's task cancellation timeout
// (default 180 s; 0 waits for ever). A subtask still running after it (a
// sink or user function that ignores its context and blocks) is abandoned:
// Go cannot stop a goroutine, so it is left running and logged at ERROR,
// the job ends, and Execute returns an error matching
// ErrCancellationTimeout that names the subtask, joined with the failure
// that made the job cancel, if any.
func WithCancellationTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("cancellation timeout must not be negative, got %s", d)
		}
		c.cancelTimeout, c.cancelTimeoutSet = d, true
		return nil
	}
}

// NewEnv returns an environment for declaring a job. Invalid options are
// reported by Execute.
func NewEnv(opts ...Option) *Env {
	e := &Env{
		cfg: config{parallelism: 1, batchSize: 256, bufferTimeout: 100 * time.Millisecond, autoWatermark: 200 * time.Millisecond, gateCapacity: 16, chaining: true, taskManagers: 1, cancelTimeout: 180 * time.Second},
	}
	for _, o := range opts {
		if err := o(&e.cfg); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	return e
}

// Parallelism is the environment's default parallelism.
func (e *Env) Parallelism() int { return e.cfg.parallelism }

// ErrInvalidConfig is wrapped by errors about the environment's options.
var ErrInvalidConfig = errors.New("freshet: invalid configuration")

// ErrInvalidProgram is wrapped by errors about a malformed dataflow.
var ErrInvalidProgram = graph.ErrInvalidProgram

// ErrCancellationTimeout is wrapped by a job's error when a subtask did not
// stop within the cancellation timeout (see WithCancellationTimeout) and was
// abandoned, still running.
var ErrCancellationTimeout = rpc.ErrCancellationTimeout

func (e *Env) addNode(n *graph.Node) *graph.Node {
	n.ID = len(e.nodes) + 1
	e.nodes = append(e.nodes, n)
	return n
}

func (e *Env) fail(err error) { e.errs = append(e.errs, err) }

// plan validates the dataflow and builds its job graph.
func (e *Env) plan(name string) (*graph.JobGraph, error) {
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	// Build on a copy: the job graph fills in defaults, and the environment
	// may be executed again (or planned) while a run of it is still going.
	p := e.cfg.parallelism
	if cluster.Role() != "" && !e.cfg.parallelismSet {
		// The parallelism asked when the job was submitted to a cluster;
		// the job master and every worker read the same.
		sub, err := cluster.SubmissionFromEnv()
		if err != nil {
			return nil, err
		}
		cfg := clusterconfig.Default()
		if err := cfg.LoadEnv(os.LookupEnv); err != nil {
			return nil, err
		}
		switch {
		case sub.Parallelism > 0:
			p = sub.Parallelism
		case cfg.Source("parallelism.default") != "default":
			// The cluster's parallelism.default, for a submission that
			// asked for none.
			p = cfg.DefaultParallelism
		}
	}
	return graph.Build(name, graph.Clone(e.nodes), graph.Config{Parallelism: p, MaxParallelism: e.cfg.maxParallelism, Chaining: e.cfg.chaining})
}

// ExecutionPlan returns the job's plan as JSON, in the shape of Flink's
// execution plan: one entry per operator with its parallelism, chain and inputs.
func (e *Env) ExecutionPlan(name string) (string, error) {
	g, err := e.plan(name)
	if err != nil {
		return "", err
	}
	return g.PlanJSON(), nil
}

// Execute runs the job and blocks until it finishes (bounded jobs), ctx is
// cancelled, or a subtask fails. It returns nil when the job finished, ctx's
// error when it was cancelled, and the failure otherwise. A subtask that
// ignores cancellation holds it up for at most the cancellation timeout,
// after which it returns an error matching ErrCancellationTimeout (see
// WithCancellationTimeout). With WithJobManager (or FRESHET_JOBMANAGER)
// it submits the program to a cluster and waits for the job there instead,
// as ExecuteAsync and JobClient.Wait do; a job that failed or was
// cancelled there returns an error matching ErrJobNotFinished.
func (e *Env) Execute(ctx context.Context, name string) error {
	if cluster.Role() == cluster.RoleJobMaster {
		j, ended, err := e.startJobMaster(ctx, name)
		if err != nil {
			return err
		}
		select {
		case <-ended:
		case <-ctx.Done():
			j.Cancel()
			<-ended
			if j.Err() == nil {
				return ctx.Err()
			}
		}
		return j.Err()
	}
	j, err := e.ExecuteAsync(ctx, name)
	if err != nil {
		return err
	}
	select {
	case <-j.Done():
	case <-ctx.Done():
		j.Cancel()
		<-j.Done()
		if j.Err() == nil {
			return ctx.Err()
		}
	}
	if err := j.Err(); err != nil {
		return err
	}
	if r, ok := j.h.(*remoteJob); ok {
		if st, _ := r.last(); st == JobCanceled {
			return fmt.Errorf("%w: job %s on the cluster at %s %s", ErrJobNotFinished, r.job, r.c.Base, st)
		}
	}
	return nil
}

// ExecuteAsync starts the job on an embedded cluster and returns at once.
//
// With WithJobManager (or FRESHET_JOBMANAGER) it submits the program to
// that cluster instead, as Execute does, and returns once the job runs
// there: the JobClient then follows and controls the job through the
// cluster's REST API, and a savepoint's directory is one the cluster's
// processes write to ("" is the cluster's default).
//
// A program submitted to a cluster (by itself, or with freshet run) is
// started by the cluster again, in other roles, where ExecuteAsync does
// not start an embedded cluster and never returns: as the job's job
// master it runs the job on the cluster's TaskManagers, and as a
// TaskManager's worker it runs the job's subtasks there; the process
// exits when the job has ended (a worker, when its TaskManager stops it).
// What the program does with the JobClient therefore happens only in the
// process that submitted it. The program must build the same job in every
// role: the cluster checks the job graph's fingerprint.
func (e *Env) ExecuteAsync(ctx context.Context, name string) (*JobClient, error) {
	if addr := e.jobManagerAddress(); addr != "" {
		return e.submit(ctx, addr, name)
	}
	logger := e.logger()
	if cluster.Role() == cluster.RoleJobMaster {
		// ctx bounds only the start, as for a job run here.
		_, ended, err := e.startJobMaster(ctx, name)
		if err != nil {
			logger.Error("starting the job master", slog.String("job_name", name), slog.Any("error", err))
			os.Exit(1)
		}
		<-ended
		os.Exit(0)
	}
	g, err := e.plan(name)
	if err != nil {
		return nil, err
	}
	if cluster.Role() == cluster.RoleWorker {
		if err := e.clusterDefaults(); err != nil {
			logger.Error("worker failed", slog.Any("error", err))
			os.Exit(1)
		}
		if err := cluster.RunWorker(ctx, g, e.cfg.bufferTimeout, logger); err != nil {
			logger.Error("worker failed", slog.Any("error", err))
			os.Exit(1)
		}
		os.Exit(0)
	}
	var dispatcher *rest.Embedded
	if e.cfg.restAddr != "" {
		if dispatcher, err = e.startREST(); err != nil {
			return nil, err
		}
	}
	reg := metrics.NewRegistry()
	mini, err := cluster.NewMini(cluster.MiniConfig{
		Metrics:      reg,
		Logger:       logger,
		TaskManagers: e.cfg.taskManagers,
		SlotsPerTM:   (jobmanager.SlotsNeeded(g) + e.cfg.taskManagers - 1) / e.cfg.taskManagers,
		GateCapacity: e.cfg.gateCapacity,
		Network:      e.cfg.network,
	})
	if err != nil {
		return nil, err
	}
	jc, release, err := e.jobConfig(name, e.cfg.encode || e.cfg.taskManagers > 1)
	if err != nil {
		_ = mini.Close()
		return nil, err
	}
	cleanup := func() {
		_ = mini.Close()
		release()
	}
	j, err := mini.JM.Submit(ctx, g, jc)
	if err != nil {
		cleanup()
		return nil, err
	}
	if dispatcher != nil {
		dispatcher.Add(j, mini.JM, reg)
	}
	h := &embeddedJob{job: j, end: make(chan struct{})}
	go func() {
		<-j.Done()
		cleanup()
		close(h.end)
	}()
	return &JobClient{h: h}, nil
}

// jobConfig is how the job runs; release removes what it made. With
// encoded, every operator's output must have a codec: records cross
// between TaskManagers.
func (e *Env) jobConfig(name string, encoded bool) (jc jobmanager.JobConfig, release func(), err error) {
	cfg := task.Config{JobName: name, BatchSize: e.cfg.batchSize, BufferTimeout: e.cfg.bufferTimeout, Encode: e.cfg.encode, AutoWatermarkInterval: e.cfg.autoWatermark, StateBackend: e.cfg.stateBackend}
	// The local copies of incremental checkpoints outlive the attempts
	// of the job, and go with it.
	var localRoot string
	if sb := &cfg.StateBackend; sb.Kind == statebackend.KindPebble && sb.Pebble.Incremental {
		if localRoot, err = os.MkdirTemp(sb.Pebble.Dir, "freshet-local-"); err != nil {
			return jc, nil, fmt.Errorf("making the directory of local state copies: %w", err)
		}
		sb.Pebble.LocalRoot = localRoot
	}
	release = func() {
		if localRoot != "" {
			_ = os.RemoveAll(localRoot)
		}
	}
	if encoded {
		for _, n := range e.nodes {
			if n.Out != nil {
				if err := n.Out.CheckCodec(); err != nil {
					release()
					return jc, nil, fmt.Errorf("%w: operator %q: %w", ErrInvalidProgram, n.Name, err)
				}
			}
		}
	}
	jc = jobmanager.JobConfig{Task: cfg, CancellationTimeout: e.cfg.cancelTimeout, Checkpoint: e.cfg.jobCheckpointConfig()}
	switch {
	case e.cfg.restart.make != nil:
		if jc.Restart, err = e.cfg.restart.make(); err != nil {
			release()
			return jc, nil, fmt.Errorf("restart strategy %s: %w", e.cfg.restart.name, err)
		}
	case e.cfg.checkpoint != nil:
		jc.Restart = restart.Default(true)
	}
	return jc, release, nil
}

// clusterDefaults applies the cluster's defaults for jobs — its checkpoint
// interval, cancellation timeout, restart strategy, buffer timeout and
// state backend, given to the job master and workers as environment
// variables — where the program set none.
func (e *Env) clusterDefaults() error {
	cfg := clusterconfig.Default()
	if err := cfg.LoadEnv(os.LookupEnv); err != nil {
		return err
	}
	if e.cfg.checkpoint == nil && cfg.CheckpointInterval > 0 {
		if err := WithCheckpointing(cfg.CheckpointInterval)(&e.cfg); err != nil {
			return err
		}
	}
	if !e.cfg.cancelTimeoutSet && cfg.Source("task.cancellation.timeout") != "default" {
		e.cfg.cancelTimeout = cfg.CancellationTimeout
	}
	if !e.cfg.bufferTimeoutSet && cfg.Source("execution.buffer-timeout") != "default" {
		e.cfg.bufferTimeout = cfg.BufferTimeout
	}
	if !e.cfg.stateBackendSet && (cfg.Source("state.backend.type") != "default" || cfg.Source("state.backend.incremental") != "default") {
		b := HeapBackend()
		if cfg.StateBackend == "pebble" {
			b = PebbleBackend(PebbleIncremental(cfg.IncrementalState))
		}
		e.cfg.stateBackend = b.cfg
	}
	if e.cfg.restart.make != nil || cfg.Source("restart-strategy.type") == "default" {
		return nil
	}
	r := cfg.Restart
	switch r.Type {
	case "none":
		e.cfg.restart = NoRestart()
	case "fixed-delay":
		e.cfg.restart = FixedDelayRestart(r.Attempts, r.Delay)
	case "failure-rate":
		e.cfg.restart = FailureRateRestart(r.MaxFailures, r.FailureInterval, r.Delay)
	case "exponential-delay":
		e.cfg.restart = ExponentialDelayRestart(r.InitialBackoff, r.MaxBackoff)
	}
	return nil
}

// startJobMaster starts the job as the job master of a cluster's job; ctx
// bounds the start. ended is closed once the job has ended, the
// dispatcher has its archive, and what the job made here is removed.
func (e *Env) startJobMaster(ctx context.Context, name string) (job *jobmanager.Job, ended <-chan struct{}, err error) {
	g, err := e.plan(name)
	if err != nil {
		return nil, nil, err
	}
	sub, err := cluster.SubmissionFromEnv()
	if err != nil {
		return nil, nil, err
	}
	if sub.Savepoint != "" && e.cfg.restoreFrom == "" {
		e.cfg.restoreFrom = sub.Savepoint
	}
	if err := e.clusterDefaults(); err != nil {
		return nil, nil, err
	}
	jc, release, err := e.jobConfig(name, true)
	if err != nil {
		return nil, nil, err
	}
	if ck := jc.Checkpoint; ck != nil && (ck.Location == "" || strings.HasPrefix(ck.Location, "mem://")) {
		// Subtasks in other processes write the state: it goes where
		// every process of the cluster reaches.
		ck.Location = cluster.CheckpointDir()
	}
	m, err := cluster.StartJobMaster(ctx, g, jc, e.logger())
	if err != nil {
		release()
		return nil, nil, err
	}
	end := make(chan struct{})
	go func() {
		<-m.Done()
		release()
		close(end)
	}()
	return m.Job, end, nil
}

// logger is the Env's logger, slog.Default() unless set.
func (e *Env) logger() *slog.Logger {
	if e.cfg.logger != nil {
		return e.cfg.logger
	}
	return slog.Default()
}

// JobStatus is the state of a running or ended job.
type JobStatus = jobmanager.JobStatus

// Job states.
const (
	JobCreated   = jobmanager.JobCreated
	JobRunning   = jobmanager.JobRunning
	JobFinished  = jobmanager.JobFinished
	JobCanceling = jobmanager.JobCanceling
	JobCanceled  = jobmanager.JobCanceled
	JobFailed    = jobmanager.JobFailed
	// JobFailing: a subtask failed and the others are being cancelled;
	// the job then restarts (JobRestarting) or fails (JobFailed).
	JobFailing = jobmanager.JobFailing
	// JobRestarting: a failed attempt has ended and the next one starts
	// after the restart strategy's delay.
	JobRestarting = jobmanager.JobRestarting
)
