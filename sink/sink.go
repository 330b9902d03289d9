// Package sink defines how data leaves a Freshet job: a Sink creates one
// Writer per parallel subtask, the writer receives every record of its
// subtask, and is flushed at the end of input.
package sink

import (
	"context"
)

// Sink creates the writers of one sink.
type Sink[T any] interface {
	CreateWriter(ctx InitContext) (Writer[T], error)
}

// InitContext is what a writer knows of its subtask.
type InitContext interface {
	// Context ends when the subtask stops.
	Context() context.Context
	SubtaskIndex() int
	Parallelism() int
	Attempt() int
}

// Context describes the record being written.
type Context struct {
	// Timestamp is the record's event-time timestamp; valid when HasTimestamp.
	Timestamp    int64
	HasTimestamp bool
	// Watermark is the subtask's current watermark.
	Watermark int64
}

// Writer writes the records of one subtask. All methods are called from the
// subtask's goroutine.
type Writer[T any] interface {
	Write(v T, c Context) error
	// Flush makes everything written so far durable or visible; endOfInput is
	// true for the final flush of a bounded job.
	Flush(endOfInput bool) error
	Close() error
}
