// Package netx is the data plane between processes: it carries the channels
// of an exchange (see package exchange) from a producing subtask in one
// process to the input gate of a consuming subtask in another.
//
// All channels from one process to another share one TCP connection, which
// the producing process dials (the consuming process, if it also produces
// for the first, dials its own). Each channel is named by a ChannelID,
// which says where its producer and its consumer run. Records are encoded
// into pooled buffers (32 KiB by default) and sent with credit-based flow
// control, as in Flink: a sender sends a buffer only against a credit the
// receiver announced for that channel, so a slow consumer backpressures
// only its own producers while the other channels on the connection keep
// flowing.
//
//	subtask ─▶ RecordWriter ─▶ Writer ══ buffers against credit ══▶ inbound channel ─▶ Gate
//	                           (encode, buffer timeout)   ◀── credits ──  (one buffer taken → one credit)
//
// A Manager owns the connections of one process. A producing task asks it
// for a Writer (an exchange.ChannelWriter) by channel id and the consumer's
// address; a consuming task registers its gate channel under the channel
// id. The credit accounting is a deterministic core (credit.go); the
// goroutines that move bytes are a thin shell around it (conn.go). The wire
// format and the rules are described in docs/network.md.
package netx
