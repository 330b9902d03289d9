package grpcrpc_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/rpc"
)

// call is one call a fake gateway received.
type call struct {
	method string
	args   []any
}

// recorder is the server side of the tests: every fake gateway records
// its calls in it and answers as it is told.
type recorder struct {
	mu struct {
		sync.Mutex
		calls   []call
		err     error
		block   bool
		results map[string]any
	}
	// entered gets the deadline of a blocking call's context (zero for
	// none) when it arrived; ended gets the context's error once it is
	// done.
	entered chan time.Time
	ended   chan error
}

func newRecorder() *recorder {
	r := &recorder{entered: make(chan time.Time, 1), ended: make(chan error, 1)}
	r.mu.results = map[string]any{}
	return r
}

// answer sets what every call returns: err, or, with block, its context's
// error once that is done.
func (r *recorder) answer(err error, block bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.err, r.mu.block = err, block
}

// setResult sets the value a call of method returns besides its error.
func (r *recorder) setResult(method string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.results[method] = v
}

// take returns the calls received so far and forgets them.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.mu.calls
	r.mu.calls = nil
	return c
}

func (r *recorder) record(ctx context.Context, method string, args ...any) error {
	r.mu.Lock()
	r.mu.calls = append(r.mu.calls, call{method: method, args: args})
	err, block := r.mu.err, r.mu.block
	r.mu.Unlock()
	if !block {
		return err
	}
	deadline, _ := ctx.Deadline()
	r.entered <- deadline
	<-ctx.Done()
	r.ended <- ctx.Err()
	return ctx.Err()
}

func result[T any](r *recorder, method string) T {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, _ := r.mu.results[method].(T)
	return v
}

type fakeTaskExecutor struct{ r *recorder }

func (f fakeTaskExecutor) ID() string { panic("ID is not a remote call") }
func (f fakeTaskExecutor) Slots() int { panic("Slots is not a remote call") }
func (f fakeTaskExecutor) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	return f.r.record(ctx, "TaskExecutor.SubmitTask", d)
}
func (f fakeTaskExecutor) CancelJob(ctx context.Context, job rpc.JobID) error {
	return f.r.record(ctx, "TaskExecutor.CancelJob", job)
}
func (f fakeTaskExecutor) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	return f.r.record(ctx, "TaskExecutor.SendOperatorEvent", exec, event)
}
func (f fakeTaskExecutor) TriggerCheckpoint(ctx context.Context, exec rpc.ExecutionID, id int64, opts rpc.TriggerOptions) error {
	return f.r.record(ctx, "TaskExecutor.TriggerCheckpoint", exec, id, opts)
}
func (f fakeTaskExecutor) NotifyCheckpoint(ctx context.Context, job rpc.JobID, attempt int, id int64, complete bool) error {
	return f.r.record(ctx, "TaskExecutor.NotifyCheckpoint", job, attempt, id, complete)
}
func (f fakeTaskExecutor) StartJob(ctx context.Context, s rpc.JobStart) (rpc.Worker, error) {
	const m = "TaskExecutor.StartJob"
	if err := f.r.record(ctx, m, s); err != nil {
		return rpc.Worker{}, err
	}
	return result[rpc.Worker](f.r, m), nil
}
func (f fakeTaskExecutor) Heartbeat(ctx context.Context, job rpc.JobID) error {
	return f.r.record(ctx, "TaskExecutor.Heartbeat", job)
}

type fakeJobMaster struct{ r *recorder }

func (f fakeJobMaster) RegisterTaskManager(ctx context.Context, tm rpc.TaskManagerGateway) error {
	return fmt.Errorf("RegisterTaskManager of %s reached the job master", tm.ID())
}
func (f fakeJobMaster) UpdateTaskState(ctx context.Context, u rpc.TaskUpdate) error {
	return f.r.record(ctx, "JobMaster.UpdateTaskState", u)
}
func (f fakeJobMaster) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	return f.r.record(ctx, "JobMaster.SendOperatorEvent", exec, event)
}
func (f fakeJobMaster) AcknowledgeCheckpoint(ctx context.Context, ack rpc.CheckpointAck) error {
	return f.r.record(ctx, "JobMaster.AcknowledgeCheckpoint", ack)
}
func (f fakeJobMaster) DeclineCheckpoint(ctx context.Context, d rpc.CheckpointDecline) error {
	return f.r.record(ctx, "JobMaster.DeclineCheckpoint", d)
}
func (f fakeJobMaster) AwaitFinalCheckpoint(ctx context.Context, w rpc.FinalCheckpointWanted) error {
	return f.r.record(ctx, "JobMaster.AwaitFinalCheckpoint", w)
}

type fakeResourceManager struct{ r *recorder }

func (f fakeResourceManager) RegisterTaskManager(ctx context.Context, reg rpc.TaskManagerRegistration) error {
	return f.r.record(ctx, "ResourceManager.RegisterTaskManager", reg)
}
func (f fakeResourceManager) HeartbeatTaskManager(ctx context.Context, tm string) error {
	return f.r.record(ctx, "ResourceManager.HeartbeatTaskManager", tm)
}
func (f fakeResourceManager) AllocateSlots(ctx context.Context, job rpc.JobID, n int, exclude []string) ([]rpc.SlotGrant, error) {
	const m = "ResourceManager.AllocateSlots"
	if err := f.r.record(ctx, m, job, n, exclude); err != nil {
		return nil, err
	}
	return result[[]rpc.SlotGrant](f.r, m), nil
}
func (f fakeResourceManager) ReleaseSlots(ctx context.Context, job rpc.JobID) error {
	return f.r.record(ctx, "ResourceManager.ReleaseSlots", job)
}

type fakeDispatcher struct{ r *recorder }

func (f fakeDispatcher) RegisterJobMaster(ctx context.Context, reg rpc.JobMasterRegistration) error {
	return f.r.record(ctx, "Dispatcher.RegisterJobMaster", reg)
}
func (f fakeDispatcher) JobEnded(ctx context.Context, a rpc.JobArchive) error {
	return f.r.record(ctx, "Dispatcher.JobEnded", a)
}

// filler sets every field of a value, recursing into structs, pointers,
// slices and maps: numbers and strings to values distinct from every
// other field's, slices and maps to two elements. A field the conversions
// forget, or two they swap, then fails a round trip. Bools cannot all be
// distinct: pass 0 sets them all true, pass p > 0 sets the b-th bool to
// bit p-1 of b, so two of the first 2^(passes-1) bools differ in some pass.
type filler struct {
	n, bools int
	pass     int
	// zero leaves every value zero: nil pointers, slices and maps.
	zero bool
}

// notCarried are the fields that do not cross a process boundary, by
// design: a SerializedError's Local is a handle into the sending
// process's error table.
var notCarried = map[reflect.Type]map[string]bool{
	reflect.TypeFor[rpc.SerializedError](): {"Local": true},
}

func fill[T any](f *filler) T {
	var v T
	f.fill(reflect.ValueOf(&v).Elem())
	return v
}

func (f *filler) fill(v reflect.Value) {
	if f.zero {
		return
	}
	f.n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.n))
	case reflect.Bool:
		f.bools++
		v.SetBool(f.pass == 0 || f.bools>>(f.pass-1)&1 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := int64(f.n)
		if v.OverflowInt(x) {
			x = x%100 + 1
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		x := uint64(f.n)
		if v.OverflowUint(x) {
			x = x%200 + 1
		}
		v.SetUint(x)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		skip := notCarried[v.Type()]
		for i := range v.NumField() {
			if !skip[v.Type().Field(i).Name] {
				f.fill(v.Field(i))
			}
		}
	default:
		panic(fmt.Sprintf("filler: %s is not plain data", v.Type()))
	}
}
