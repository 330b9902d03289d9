package operator

// Link is the Output that connects an operator to the next operator of its
// chain: a direct call, with the running operator recorded for error reports.
type Link[T any] struct {
	Op  OneInput[T]
	Cur *int
	Idx int
	// Batch is Op when it takes runs of records, else nil.
	Batch BatchInput[T]
}

// CollectBatch implements BatchOutput.
func (l *Link[T]) CollectBatch(rs []Record[T]) {
	prev := *l.Cur
	*l.Cur = l.Idx
	if l.Batch != nil {
		if err := l.Batch.ProcessBatch(rs); err != nil {
			Fail(err)
		}
	} else {
		for i := range rs {
			if err := l.Op.ProcessElement(rs[i]); err != nil {
				Fail(err)
			}
		}
	}
	*l.Cur = prev
}

// Collect implements Output.
func (l *Link[T]) Collect(r Record[T]) {
	prev := *l.Cur
	*l.Cur = l.Idx
	if err := l.Op.ProcessElement(r); err != nil {
		Fail(err)
	}
	*l.Cur = prev
}

// EmitWatermark implements Output.
func (l *Link[T]) EmitWatermark(wm int64) {
	prev := *l.Cur
	*l.Cur = l.Idx
	if err := l.Op.ProcessWatermark(wm); err != nil {
		Fail(err)
	}
	*l.Cur = prev
}

// FanOut sends everything to several outputs in order.
type FanOut[T any] []Output[T]

// Collect implements Output.
func (f FanOut[T]) Collect(r Record[T]) {
	for _, o := range f {
		o.Collect(r)
	}
}

// EmitWatermark implements Output.
func (f FanOut[T]) EmitWatermark(wm int64) {
	for _, o := range f {
		o.EmitWatermark(wm)
	}
}

// Discard drops everything; it is the output of an operator nothing reads.
type Discard[T any] struct{}

// Collect implements Output.
func (Discard[T]) Collect(Record[T]) {}

// CollectBatch implements BatchOutput.
func (Discard[T]) CollectBatch([]Record[T]) {}

// EmitWatermark implements Output.
func (Discard[T]) EmitWatermark(int64) {}
