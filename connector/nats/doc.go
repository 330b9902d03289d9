// Package nats connects Freshet jobs to NATS JetStream.
//
// Sink publishes records to a JetStream stream. Every message carries a
// de-duplication id (Nats-Msg-Id) made of a prefix, the subtask and the
// record's position in the subtask's output, a position the writer keeps
// in checkpoints; at every checkpoint the writer waits until the stream
// has acknowledged what was published before it. When a job restarts from
// a checkpoint and replays the same records in the same order, the
// republished messages carry the ids they had and the stream drops them
// within its duplicate window (StreamConfig.Duplicates): the stream holds
// each record once. This needs a deterministic replay: the sink's input
// must reach each subtask in the same order every time (a replayable
// source through forward connections and deterministic functions). If a
// replay reorders records (input from several upstream subtasks, by
// rebalance or key), a record may get an id another had and be dropped:
// output is then neither exactly once nor at least once. A replay that
// outlasts the duplicate window is at least once. Positions start from 0 in a job not restored from a
// checkpoint, so a run started afresh needs an id prefix of its own.
//
// Source reads a stream through a durable pull consumer with explicit
// acks, shared by its readers. A reader acknowledges messages only once a
// checkpoint covers them, so after a failure the server redelivers what no
// checkpoint covered (at least once); messages held when a reader closes
// are negatively acknowledged for prompt redelivery. Source readers are
// told of no completed checkpoint (the source API has no such hook), so a
// reader acknowledges the messages of a checkpoint when it takes the next
// one: with one checkpoint at a time, the earlier one had then completed,
// unless it was aborted. Each checkpoint also keeps the stream sequences
// it covers that may be unacknowledged, and a restored reader drops those
// when they come again, so at parallelism 1 the job's checkpointed state
// counts every message once. With SourceStopWhenDrained the source is
// bounded and ends when the consumer has nothing left to deliver.
package nats
