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
// each record once. Replays in another order (input from several upstream
// subtasks, non-deterministic functions) or longer than the window are
// only at least once.
package nats
