package operator

// Link is the Output that connects an operator to the next operator of its
// chain: a direct call, with the running operator recorded for error
// reports. An error of the next operator is raised on the chain's Failure;
// once the chain has failed, a Link drops what it is given.
type Link[T any] struct {
	Op      OneInput[T]
	Cur     *int
	Idx     int
	Failure *Failure
	// Batch is Op when it takes runs of records, else nil.
	Batch BatchInput[T]
}

// CollectBatch implements BatchOutput.
func (l *Link[T]) CollectBatch(rs []Record[T]) {
	if l.Failure.err != nil {
		return
	}
	prev := *l.Cur
	*l.Cur = l.Idx
	if l.Batch != nil {
		l.Failure.Raise(l.Batch.ProcessBatch(rs))
	} else {
		for i := range rs {
			if err := l.Op.ProcessElement(rs[i]); err != nil {
				l.Failure.Raise(err)
				break
			}
		}
	}
	*l.Cur = prev
}

// Collect implements Output.
func (l *Link[T]) Collect(r Record[T]) {
	if l.Failure.err != nil {
		return
	}
	prev := *l.Cur
	*l.Cur = l.Idx
	l.Failure.Raise(l.Op.ProcessElement(r))
	*l.Cur = prev
}

// EmitWatermark implements Output.
func (l *Link[T]) EmitWatermark(wm int64) {
	if l.Failure.err != nil {
		return
	}
	prev := *l.Cur
	*l.Cur = l.Idx
	l.Failure.Raise(l.Op.ProcessWatermark(wm))
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
