package operator

import (
	"context"
)

// Context is what the runtime gives an operator at Open.
type Context struct {
	Ctx            context.Context // ends when the subtask stops
	JobName        string
	TaskName       string // name of the operator
	Subtask        int    // index of this subtask, from 0
	Parallelism    int
	MaxParallelism int
	Attempt        int
	// KeyGroups is the first and last key group this subtask owns (keyed operators).
	KeyGroupStart, KeyGroupEnd int
	// Current points at the index of the operator in the chain that is running,
	// so a failure can name it.
	Current *int
	Index   int
	// ProcessingTime returns the current processing time in milliseconds.
	ProcessingTime func() int64
}
