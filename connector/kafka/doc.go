// Package kafka connects Freshet jobs to Apache Kafka with the franz-go
// client (github.com/twmb/franz-go).
//
// Source reads topics, named (Topics) or matched by a regular expression
// (TopicPattern). Every topic partition is a split, assigned to a reader
// as Flink's KafkaSourceEnumerator does: partition p of topic t goes to
// reader (hash(t)*31 & MaxInt32 % parallelism + p) % parallelism, hash
// being Java's String.hashCode. The enumerator lists the partitions when
// the job starts and resolves where each starts (earliest, latest, the
// group's committed offsets, a timestamp, or specific offsets) and, for a
// bounded source, where it stops (the end offsets seen at start, or
// specific ones). An unbounded source also looks for new partitions every
// PartitionDiscovery (5 minutes by default) and reads those from their
// earliest offset; the partitions already assigned are part of the
// enumerator's checkpointed state, so a restored job neither reads a
// partition again nor misses one created meanwhile.
//
// Each reader consumes its partitions with one client and emits every
// record with its Kafka timestamp as event time, through the partition's
// own output so that watermarks (and idleness) are tracked per partition.
// The Deserializer sees the whole record; a record it rejects fails the
// job, or, with BadRecords set, goes to that side output as a BadRecord.
// Checkpoints hold the offset each partition resumes from: after a
// failure the job rereads exactly the records after its last completed
// checkpoint, so state built from the source is exactly once. With a
// GroupID, each reader commits a checkpoint's offsets to the group once
// the checkpoint completes, asynchronously and for monitoring only.
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
//     committed when the checkpoint completes; after a restore at any
//     parallelism the transactions of the restored checkpoint are
//     committed and every transaction of the prefix left open after it is
//     aborted, each by one subtask (see Sink). The producers' transaction
//     timeout is checked against
//     the brokers' transaction.max.timeout.ms when the writers start.
//     Consumers that read with read_committed isolation see every record
//     exactly once.
//
// Limits: a bounded source whose partitions end in compacted-away offsets
// may not end; the exactly-once sink needs brokers that answer
// ListTransactions (Kafka 3.0 or later).
//
// Tests use franz-go's in-process kfake cluster; no broker is needed.
// docs/connectors/kafka.md describes the connector in full.
package kafka
