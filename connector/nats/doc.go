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
// replay may reorder records (input from several upstream subtasks, by
// rebalance or key, or a NATS source, which redelivers in another order),
// give the sink ids of the records' own with Sink.WithMessageID (such as
// the stream sequence a record was read at): the stream then holds each
// record once however the replay is ordered. A replay that outlasts the
// duplicate window is at least once. Positions start from 0 in a job not
// restored from a checkpoint, so a run started afresh needs an id prefix
// of its own.
//
// Source reads a stream through a durable pull consumer with explicit
// acks, shared by its readers. A reader acknowledges messages when a
// checkpoint that covers them completes (its readers implement
// source.CheckpointListener), so after a failure the server redelivers
// what no completed checkpoint covered (at least once); messages held
// when a reader closes are negatively acknowledged for prompt redelivery.
// Each checkpoint also keeps the stream sequences it covers that the
// server may deliver again, as ranges in the readers' union state
// (source.UnionStateReader), so every restored reader knows them all and
// the one a message comes to again drops it: the job's checkpointed state
// counts every message once at any parallelism, also after a rescale. With
// SourceStopWhenDrained the source is bounded and ends when the consumer
// has nothing left to deliver.
//
// A source and a sink together (NATS → job → NATS) are exactly once at any
// parallelism when the sink's message ids come from the source's
// sequences (see TestNATSToNATSExactlyOnce).
package nats
