// Package bench holds Freshet's performance benchmarks; it has no API. Run
//
//	go test ./bench -run '^$' -bench . [-benchtime 2s] [-count 5] [-cpuprofile cpu.out]
//
// # Convention
//
// Every comparison is one benchmark, BenchmarkXxx, with two sub-benchmarks
// doing the same work on the same input:
//
//   - freshet: a Freshet job built with the DataStream API and run with
//     Env.Execute;
//   - loop: a hand-written Go loop computing the same result, the baseline
//     the runtime is measured against.
//
// One benchmark op is one record: a sub-benchmark processes exactly b.N
// records in a single run (one job execution, or one pass of the loop), so
// ns/op is wall-clock nanoseconds per record and B/op and allocs/op are per
// record too. Each sub-benchmark also reports
//
//   - records/s: b.N divided by the run's wall-clock time, the figure to
//     compare between freshet and loop;
//   - cpu-ns/op: CPU time the whole process spent per record (every
//     goroutine and the garbage collector). It is the total cost of a record
//     for a job running in parallel, and is steadier than ns/op on a busy
//     machine.
//
// so the two sub-benchmarks print side by side:
//
//	BenchmarkChainedPipeline/freshet-2   ...  9.1 ns/op   8.9 cpu-ns/op  110000000 records/s
//	BenchmarkChainedPipeline/loop-2      ...  2.6 ns/op   2.6 cpu-ns/op  380000000 records/s
//
// A job's fixed cost (planning, deploying its subtasks) is part of the
// freshet figures; the benchmark framework raises b.N until a run lasts
// -benchtime, which makes it negligible.
//
// New benchmarks reuse the helpers in helpers_test.go:
//
//   - run(b, records, fn) times fn as the whole sub-benchmark and reports
//     records/s and cpu-ns/op;
//   - the input is the built-in bounded generator source,
//     source.Generator(genFn, source.GeneratorCount(N)), emitting genFn(i)
//     for i in 0..N-1 without allocating per record, so input size is not
//     limited by memory;
//   - discard is a sink keeping only the count and sum of what it receives,
//     over all subtasks.
//
// Each sub-benchmark checks its result (the sink's count and sum against the
// loop's), so neither side can skip work. User functions (the generator's,
// map, filter, key selector) are package-level function variables that
// both sides call, so neither gets them inlined and the difference is the
// runtime's overhead.
//
// BenchmarkFileSink (in filesink_test.go) writes one text line per record
// through the file sink (connector/file) into a directory, against a loop
// writing the same lines to one file through a bufio.Writer; both also
// report MB/s, the bytes of lines written per second of the run.
//
// BenchmarkPostgresSink (in postgres_test.go) writes one row per record
// through connector/postgres's upsert sink (freshet) and exactly-once sink
// (freshet-2pc) into a PostgreSQL table, against a loop sending the same
// multi-row upserts with pgx (loop) and one queuing an upsert per row in a
// pgx.Batch (loop-pgxbatch). It needs the server scripts/postgres.sh starts
// (FRESHET_POSTGRES_DSN) and skips without it.
//
// # Network benchmarks between processes
//
// BenchmarkNetworkExchange/freshet and BenchmarkNetworkLatency/cluster (in
// netjob_test.go, network_test.go and netcluster_test.go) run the job
// program bench/netjob on a cluster of processes (a JobManager and two
// TaskManagers) that the first of them starts with freshet cluster start,
// from binaries it builds, and TestMain stops. Their job's sink measures
// what they report (records/s from its first record to its last, the
// latency of paced records), so the job's start is out of records/s though
// in ns/op. One op is one record: with the default -benchtime a single
// run of one record takes over a second and ends the benchmark, so run them
// with a count, such as -benchtime 3000000x (docs/network.md).
//
// # Checkpoint benchmarks
//
// BenchmarkCheckpointOverhead and BenchmarkCheckpointDuration (in
// checkpoint_test.go) compare the runtime with itself rather than with a
// loop, and need runs of seconds whatever -benchtime says, so one op is a
// whole job run of a fixed size rather than a record:
//
//   - BenchmarkCheckpointOverhead/none and /checkpoint-1s run the same keyed
//     counting job over 30 million records without and with a checkpoint
//     every second, reporting records/s, cpu-ns/record and the checkpoints
//     completed per run; the goal is checkpoint-1s within 10% of none;
//   - BenchmarkCheckpointDuration holds a count for each of a million keys
//     on the heap backend and reports ms/checkpoint and bytes/checkpoint of
//     checkpoints taken with every key in state.
//
// With the default -benchtime each runs once (b.N = 1); -benchtime 3x runs
// each three times.
package bench
