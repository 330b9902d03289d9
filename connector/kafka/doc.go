// Package kafka connects Freshet jobs to Apache Kafka with the franz-go
// client (github.com/twmb/franz-go).
//
// Source reads topics. Every topic partition is a split; the enumerator
// lists the partitions when the job starts, resolves where each starts
// (earliest, latest, the group's committed offsets, or a timestamp) and,
// for a bounded source, where it stops (the end offsets seen at start),
// and assigns the splits to the readers round-robin. Each reader consumes
// its partitions with one client and emits every record with its Kafka
// timestamp as event time, through the partition's own output so that
// watermarks are tracked per partition. Checkpoints hold the offset each
// partition resumes from: after a failure the job rereads exactly the
// records after its last completed checkpoint, so state built from the
// source is exactly once. Offsets are not committed back to Kafka.
//
// Sink writes records chosen by a Serializer (topic, key, partition,
// headers) with one of three guarantees:
//
//   - None: records are produced asynchronously; some may be lost on a
//     failure.
//   - AtLeastOnce: every checkpoint and the end of input wait until all
//     records produced so far are acknowledged, so a completed checkpoint
//     covers them; a failure may write records again.
//   - ExactlyOnce: records are written in Kafka transactions on
//     sink.TwoPhaseCommit: a transaction is flushed at each checkpoint and
//     committed when the checkpoint completes; after a failure the
//     transactions of the restored checkpoint are committed and lingering
//     ones aborted. Consumers that read with read_committed isolation see
//     every record exactly once.
//
// Limits: partitions are discovered only when a job starts; offsets are
// not committed back to the consumer group; a bounded source whose
// partitions end in compacted-away offsets may not end; after a restore at
// a lower parallelism, transactions the removed subtasks left open are not
// aborted and hold read_committed consumers up until they time out.
//
// Tests use franz-go's in-process kfake cluster; no broker is needed.
package kafka
