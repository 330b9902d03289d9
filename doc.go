// Package freshet is a distributed, stateful stream processor for Go, with
// the DataStream model of Apache Flink.
//
// A job is built on an Env from sources, transformations and sinks, then
// run with Execute (blocking) or ExecuteAsync (a JobClient with status,
// checkpoints, savepoints and cancellation). By default it runs on an
// embedded runtime — a JobManager and TaskManagers inside the process —
// each parallel subtask a goroutine that drives its chain of operators,
// with bounded queues between subtasks so that a slow operator slows its
// producers down instead of filling memory. With WithJobManager the
// program submits itself to a cluster instead, and the JobClient of
// ExecuteAsync works through the cluster's REST API.
//
//	env := freshet.NewEnv(freshet.WithParallelism(4))
//	lines := freshet.FromSource(env, source.TextFiles("logs/"), "Logs")
//	words := freshet.FlatMap(lines, func(line string, out freshet.Collector[string]) {
//		for _, w := range strings.Fields(line) {
//			out.Collect(w)
//		}
//	})
//	counts := freshet.Sum(freshet.KeyBy(freshet.Map(words, toCount), byWord), freshet.FieldOf[count, int]("N"))
//	counts.Print()
//	err := env.Execute(ctx, "word count")
//
// Operations that keep the element type are methods of Stream (Filter,
// Union, the partitionings Rebalance, Rescale, Shuffle, Broadcast, Global,
// Forward, and the settings Name, UID, SetParallelism, SetMaxParallelism,
// DisableChaining, StartNewChain, SlotSharingGroup); those that change it are
// functions, because Go methods cannot have type parameters: Map, FlatMap,
// Process, KeyBy, Reduce, Sum, Min, MinBy, Max, MaxBy, KeyedProcess,
// Connect with CoMap, CoFlatMap and CoProcess, ConnectKeyed with
// KeyedCoProcess, the broadcast state pattern, SideOutput, PartitionCustom.
//
// # Functions
//
// Map, FlatMap, Filter and the aggregations take plain Go functions. The
// process family — ProcessFunction, KeyedProcessFunction, CoProcessFunction,
// KeyedCoProcessFunction, the broadcast process functions,
// ProcessWindowFunction and ProcessJoinFunction — are interfaces whose every
// method is required, Open and Close (Lifecycle) included. Embed a default
// for the methods you do not need (BaseFunction; NoTimers for keyed
// functions that set no timers; BaseWindowFunction) and define the rest. A
// method with a slightly wrong signature hides the default, so the type no
// longer satisfies the interface: the mistake is a compile error, not a
// handler that is never called. Assert it beside the type:
//
//	type timeout struct{ freshet.BaseFunction }
//
//	func (timeout) ProcessElement(ctx *freshet.KeyedContext[string], e Event, out freshet.Collector[Alert]) error {
//		ctx.TimerService().RegisterProcessingTimeTimer(ctx.TimerService().CurrentProcessingTime() + 60_000)
//		return nil
//	}
//
//	func (timeout) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[Alert]) error {
//		out.Collect(Alert{User: ctx.CurrentKey()})
//		return nil
//	}
//
//	var _ freshet.KeyedProcessFunction[Event, string, Alert] = timeout{}
//
// Type parameters follow the streams: inputs, then the key, then the output.
// For a function literal, ProcessFunc, KeyedProcessFunc,
// KeyedProcessFuncWithTimers, ProcessWindowFunc and ProcessJoinFunc make the
// interface value, and Go infers the types from the literal:
//
//	alerts := freshet.KeyedProcess(byUser, freshet.KeyedProcessFunc(
//		func(ctx *freshet.KeyedContext[string], e Event, out freshet.Collector[Alert]) error { … }))
//
// A function that cannot receive timers (it embeds NoTimers or was made by
// KeyedProcessFunc) fails the job with ErrNoTimerHandler when it sets one.
//
// # Event time
//
// Records carry timestamps (milliseconds since the epoch) given by a
// watermark.Strategy in the source (FromSourceWithWatermarks) or after any
// stream (AssignTimestampsAndWatermarks). Watermarks flow with the records;
// each subtask's event time is the minimum over its active inputs. Keyed
// process functions set event- and processing-time timers and keep keyed
// state.
//
// # Keyed state
//
// Keyed state is declared once by a descriptor of package state, with a
// codec derived for its type, and read and written explicitly through the
// store of a function's context (Flink's ValueStateDescriptor and
// getState):
//
//	var count = state.NewValue("count", state.WithDefault(0))
//
//	func(ctx *freshet.KeyedContext[string], e Event, out freshet.Collector[int]) error {
//		c := state.Value(ctx.State(), count)
//		n, _ := c.Value()
//		c.Update(n + 1)
//		out.Collect(n + 1)
//		return nil
//	}
//
// List, map, reducing and aggregating state work the same way. Window
// functions have per-window state (WindowContext.WindowState) and state
// shared by a key's windows (GlobalState).
//
// # Operator state and checkpoints
//
// A process-family function can keep state of its parallel instance rather
// than of a key (Flink's operator state): it implements
// CheckpointedFunction, whose InitializeState runs before Open, on a fresh
// start or a restore (ctx.IsRestored), and whose SnapshotState runs at every
// checkpoint. ListState and UnionListState return the subtask's list for a
// state.NewList descriptor; on a restore at another parallelism list state
// is split evenly among the subtasks and union list state goes to every
// one. The function value is shared by all subtasks, so get the list again
// where it is needed, from the call's RuntimeContext:
//
//	var buffered = state.NewList[Event]("buffered")
//
//	func (f *batcher) InitializeState(ctx *freshet.StateInitializationContext) error {
//		_, err := freshet.ListState(ctx, buffered) // restored, if ctx.IsRestored()
//		return err
//	}
//
//	func (f *batcher) ProcessElement(ctx *freshet.Context, e Event, out freshet.Collector[[]Event]) error {
//		buf, err := freshet.ListState(ctx.Runtime(), buffered)
//		…
//	}
//
// A function that implements CheckpointListener is told when a checkpoint
// completes or is aborted. Broadcast state is checkpointed too: every
// subtask gets a copy back. Since these interfaces are optional, a method
// of one of them with a slightly wrong signature would silently never be
// called; Execute rejects such a program with ErrInvalidProgram instead.
//
// # Windows and joins
//
// Window (keyed) and WindowAll cut streams into windows with the assigners,
// triggers and evictors of package window; WindowReduce, WindowAggregate,
// WindowProcess and their combinations evaluate them, with allowed lateness
// and a side output for late data. IntervalJoin joins two keyed streams by
// time bounds; CoWindow with WindowJoin, WindowFlatJoin and WindowCoGroup
// joins them per window.
//
// # Metrics
//
// Beside the runtime's counters (records, bytes, backpressure, watermark),
// a function reports its own through the metric group of its call's
// RuntimeContext (package metric, like Flink's MetricGroup); the REST API
// shows them per subtask and /metrics exports them as
// freshet_operator_<name>:
//
//	ctx.Runtime().Metrics().Counter("badLines").Inc()
//
// Connectors report theirs the same way, from source.ReaderContext and
// sink.InitContext (bytes read and written, lag).
//
// # Testing
//
// Package freshettest runs the operators of a function without a job,
// pushing elements, watermarks and processing time in and reading outputs
// (and the metrics it registered).
package freshet
