package grpcrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/grpcrpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clients are the four services' clients over one connection.
type clients struct {
	te rpc.TaskExecutorGateway
	jm rpc.JobManagerGateway
	rm rpc.ResourceManagerGateway
	d  rpc.DispatcherGateway
}

// serve starts a server of the four services on fakes that record in r,
// over an in-memory listener, and returns clients connected to it. The
// cleanup closes the connection and stops the server.
func serve(t testing.TB, r *recorder) clients {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpcrpc.NewServer()
	grpcrpc.RegisterTaskExecutorServer(s, fakeTaskExecutor{r})
	grpcrpc.RegisterJobMasterServer(s, fakeJobMaster{r})
	grpcrpc.RegisterResourceManagerServer(s, fakeResourceManager{r})
	grpcrpc.RegisterDispatcherServer(s, fakeDispatcher{r})
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-served; err != nil {
			t.Errorf("serving: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := grpcrpc.Dial(ctx, "passthrough:///bufnet", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return clients{
		te: grpcrpc.NewTaskExecutorClient(cc, "tm-1", 4),
		jm: grpcrpc.NewJobMasterClient(cc),
		rm: grpcrpc.NewResourceManagerClient(cc),
		d:  grpcrpc.NewDispatcherClient(cc),
	}
}

// method is one remote call: call makes it through the clients with
// arguments from f and returns them, the value it returned and the value
// the server's fake returned (which call sets in r first).
type method struct {
	name string
	call func(ctx context.Context, c clients, r *recorder, f *filler) (args []any, got, want any, err error)
}

func noResult(args []any, err error) ([]any, any, any, error) { return args, nil, nil, err }

var methods = []method{
	{"TaskExecutor.SubmitTask", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		d := fill[rpc.TaskDeployment](f)
		return noResult([]any{d}, c.te.SubmitTask(ctx, d))
	}},
	{"TaskExecutor.CancelJob", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		job := fill[rpc.JobID](f)
		return noResult([]any{job}, c.te.CancelJob(ctx, job))
	}},
	{"TaskExecutor.SendOperatorEvent", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		exec, event := fill[rpc.ExecutionID](f), fill[[]byte](f)
		return noResult([]any{exec, event}, c.te.SendOperatorEvent(ctx, exec, event))
	}},
	{"TaskExecutor.TriggerCheckpoint", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		exec, id, opts := fill[rpc.ExecutionID](f), fill[int64](f), fill[rpc.TriggerOptions](f)
		return noResult([]any{exec, id, opts}, c.te.TriggerCheckpoint(ctx, exec, id, opts))
	}},
	{"TaskExecutor.NotifyCheckpoint", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		job, attempt, id, complete := fill[rpc.JobID](f), fill[int](f), fill[int64](f), fill[bool](f)
		return noResult([]any{job, attempt, id, complete}, c.te.NotifyCheckpoint(ctx, job, attempt, id, complete))
	}},
	{"TaskExecutor.StartJob", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		s, want := fill[rpc.JobStart](f), fill[rpc.Worker](f)
		r.setResult("TaskExecutor.StartJob", want)
		got, err := c.te.StartJob(ctx, s)
		return []any{s}, got, want, err
	}},
	{"TaskExecutor.Heartbeat", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		job := fill[rpc.JobID](f)
		return noResult([]any{job}, c.te.Heartbeat(ctx, job))
	}},
	{"JobMaster.UpdateTaskState", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		u := fill[rpc.TaskUpdate](f)
		return noResult([]any{u}, c.jm.UpdateTaskState(ctx, u))
	}},
	{"JobMaster.SendOperatorEvent", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		exec, event := fill[rpc.ExecutionID](f), fill[[]byte](f)
		return noResult([]any{exec, event}, c.jm.SendOperatorEvent(ctx, exec, event))
	}},
	{"JobMaster.AcknowledgeCheckpoint", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		ack := fill[rpc.CheckpointAck](f)
		return noResult([]any{ack}, c.jm.AcknowledgeCheckpoint(ctx, ack))
	}},
	{"JobMaster.DeclineCheckpoint", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		d := fill[rpc.CheckpointDecline](f)
		return noResult([]any{d}, c.jm.DeclineCheckpoint(ctx, d))
	}},
	{"JobMaster.AwaitFinalCheckpoint", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		w := fill[rpc.FinalCheckpointWanted](f)
		return noResult([]any{w}, c.jm.AwaitFinalCheckpoint(ctx, w))
	}},
	{"ResourceManager.RegisterTaskManager", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		reg := fill[rpc.TaskManagerRegistration](f)
		return noResult([]any{reg}, c.rm.RegisterTaskManager(ctx, reg))
	}},
	{"ResourceManager.HeartbeatTaskManager", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		tm := fill[string](f)
		return noResult([]any{tm}, c.rm.HeartbeatTaskManager(ctx, tm))
	}},
	{"ResourceManager.AllocateSlots", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		job, n, exclude, want := fill[rpc.JobID](f), fill[int](f), fill[[]string](f), fill[[]rpc.SlotGrant](f)
		r.setResult("ResourceManager.AllocateSlots", want)
		got, err := c.rm.AllocateSlots(ctx, job, n, exclude)
		return []any{job, n, exclude}, got, want, err
	}},
	{"ResourceManager.ReleaseSlots", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		job := fill[rpc.JobID](f)
		return noResult([]any{job}, c.rm.ReleaseSlots(ctx, job))
	}},
	{"Dispatcher.RegisterJobMaster", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		reg := fill[rpc.JobMasterRegistration](f)
		return noResult([]any{reg}, c.d.RegisterJobMaster(ctx, reg))
	}},
	{"Dispatcher.JobEnded", func(ctx context.Context, c clients, r *recorder, f *filler) ([]any, any, any, error) {
		a := fill[rpc.JobArchive](f)
		return noResult([]any{a}, c.d.JobEnded(ctx, a))
	}},
}

// TestMethodsCovered checks that the table above has every method of the
// four services and of the gateway interfaces they carry, so that a call
// added to either is tested.
func TestMethodsCovered(t *testing.T) {
	have := map[string]bool{}
	for _, m := range methods {
		have[m.name] = true
	}
	want := map[string]bool{}
	for _, sd := range []grpc.ServiceDesc{rpcpb.TaskExecutor_ServiceDesc, rpcpb.JobMaster_ServiceDesc, rpcpb.ResourceManager_ServiceDesc, rpcpb.Dispatcher_ServiceDesc} {
		service := strings.TrimPrefix(sd.ServiceName, "freshet.v1.")
		for _, m := range sd.Methods {
			want[service+"."+m.MethodName] = true
		}
		if len(sd.Streams) != 0 {
			t.Errorf("%s has streams, which the adapters do not carry", sd.ServiceName)
		}
	}
	local := map[string]bool{"ID": true, "Slots": true}
	for _, g := range []struct {
		service string
		iface   reflect.Type
		local   map[string]bool
	}{
		{"TaskExecutor", reflect.TypeFor[rpc.TaskExecutorGateway](), local},
		{"JobMaster", reflect.TypeFor[rpc.JobManagerGateway](), map[string]bool{"RegisterTaskManager": true}},
		{"ResourceManager", reflect.TypeFor[rpc.ResourceManagerGateway](), nil},
		{"Dispatcher", reflect.TypeFor[rpc.DispatcherGateway](), nil},
	} {
		for i := range g.iface.NumMethod() {
			if name := g.iface.Method(i).Name; !g.local[name] {
				want[g.service+"."+name] = true
			}
		}
	}
	for m := range want {
		if !have[m] {
			t.Errorf("%s is not tested", m)
		}
	}
	for m := range have {
		if !want[m] {
			t.Errorf("%s is tested but is neither a service's method nor a gateway's", m)
		}
	}
}

// TestRoundTrip makes every call with every field set (and then with none
// set) and checks that the server's gateway received exactly what the
// client sent, and the client returned exactly what the gateway did.
func TestRoundTrip(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	ctx := context.Background()
	fillers := []*filler{{zero: true}}
	for pass := range 5 {
		fillers = append(fillers, &filler{pass: pass})
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			for _, f := range fillers {
				args, got, want, err := m.call(ctx, c, r, f)
				if err != nil {
					t.Fatalf("pass %+v: %v", *f, err)
				}
				calls := r.take()
				if len(calls) != 1 || calls[0].method != m.name {
					t.Fatalf("pass %+v: the server received %+v, want one call of %s", *f, calls, m.name)
				}
				if !reflect.DeepEqual(calls[0].args, args) {
					t.Errorf("pass %+v: the server received\n%#v\nwant\n%#v", *f, calls[0].args, args)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("pass %+v: the client returned\n%#v\nwant\n%#v", *f, got, want)
				}
			}
		})
	}
}

// TestLocalErrorHandleNotCarried: a SerializedError's Local names an error
// in the sender's table, which means nothing to another process.
func TestLocalErrorHandleNotCarried(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	table := rpc.NewErrorTable()
	u := rpc.TaskUpdate{
		Exec:  rpc.ExecutionID{Job: "j", Vertex: 1, Subtask: 2, Attempt: 3},
		State: rpc.TaskFailed,
		Err:   rpc.SerializeError(fmt.Errorf("running: %w", rpc.ErrCancellationTimeout), table),
	}
	if u.Err.Local == 0 {
		t.Fatal("the error table gave no handle")
	}
	if err := c.jm.UpdateTaskState(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	want := u
	se := *u.Err
	se.Local = 0
	want.Err = &se
	calls := r.take()
	if len(calls) != 1 || !reflect.DeepEqual(calls[0].args, []any{want}) {
		t.Fatalf("the server received %#v, want %#v", calls, want)
	}
	if err := calls[0].args[0].(rpc.TaskUpdate).Err.Err(rpc.NewErrorTable()); !errors.Is(err, rpc.ErrCancellationTimeout) {
		t.Errorf("received error %v does not match ErrCancellationTimeout", err)
	}
}

var sentinels = []error{
	rpc.ErrNoSuchTask,
	rpc.ErrCancellationTimeout,
	rpc.ErrSlotNotAllocated,
	rpc.ErrUnknownTaskManager,
	rpc.ErrUnknownJob,
	context.Canceled,
	context.DeadlineExceeded,
}

// TestGatewayErrors: the gateway's error comes back from every method with
// its message, its chain as SerializeError describes it, and the sentinel
// it matches (and no other).
func TestGatewayErrors(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	for _, m := range methods {
		for _, s := range sentinels {
			sent := fmt.Errorf("serving %s: %w", m.name, s)
			r.answer(sent, false)
			_, _, _, err := m.call(context.Background(), c, r, &filler{})
			r.take()
			var remote *rpc.RemoteError
			if !errors.As(err, &remote) {
				t.Errorf("%s returned %T %v, want an *rpc.RemoteError", m.name, err, err)
				continue
			}
			if want := rpc.SerializeError(sent, nil); !reflect.DeepEqual(remote.Serialized, *want) {
				t.Errorf("%s returned\n%#v\nwant\n%#v", m.name, remote.Serialized, *want)
			}
			if err.Error() != sent.Error() {
				t.Errorf("%s returned %q, want %q", m.name, err, sent)
			}
			for _, other := range sentinels {
				if errors.Is(err, other) != (other == s) {
					t.Errorf("%s: errors.Is(%q, %v) = %t", m.name, err, other, errors.Is(err, other))
				}
			}
		}
	}
	r.answer(errors.New("disk full"), false)
	err := c.te.SubmitTask(context.Background(), rpc.TaskDeployment{})
	for _, s := range sentinels {
		if errors.Is(err, s) {
			t.Errorf("%q matches %v", err, s)
		}
	}
	if err == nil || err.Error() != "disk full" {
		t.Errorf("SubmitTask returned %v, want disk full", err)
	}
}

// TestContextEnds: the caller's deadline and cancellation reach the
// gateway's context, and the caller gets an error naming the call that
// matches the context's error.
func TestContextEnds(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	r.answer(nil, true)
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		deadline, _ := ctx.Deadline()
		err := c.te.Heartbeat(ctx, "job")
		// gRPC sends the time left, rounded up; the gateway's deadline is
		// the caller's plus the time the request took to arrive.
		if got := <-r.entered; got.Before(deadline) || got.After(deadline.Add(time.Second)) {
			t.Errorf("the gateway's deadline is %v, want %v or a little later", got, deadline)
		}
		// Whichever side saw the deadline first: the gateway's context
		// expired, or the caller cancelled the call.
		if got := waitEnded(t, r); !errors.Is(got, context.DeadlineExceeded) && !errors.Is(got, context.Canceled) {
			t.Errorf("the gateway's context ended with %v, want it expired or cancelled", got)
		}
		checkCallError(t, err, "TaskExecutor.Heartbeat", "passthrough:///bufnet", codes.DeadlineExceeded)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v does not match context.DeadlineExceeded", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- c.rm.ReleaseSlots(ctx, "job") }()
		if deadline := <-r.entered; !deadline.IsZero() {
			t.Errorf("the gateway's context has deadline %v, the caller's none", deadline)
		}
		cancel()
		err := <-done
		checkCallError(t, err, "ResourceManager.ReleaseSlots", "passthrough:///bufnet", codes.Canceled)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v does not match context.Canceled", err)
		}
		if got := waitEnded(t, r); !errors.Is(got, context.Canceled) {
			t.Errorf("the gateway's context ended with %v, want context.Canceled", got)
		}
	})
	r.take()
}

func waitEnded(t *testing.T, r *recorder) error {
	t.Helper()
	select {
	case err := <-r.ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway's context did not end")
		return nil
	}
}

func checkCallError(t *testing.T, err error, method, target string, code codes.Code) {
	t.Helper()
	var ce *grpcrpc.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("got %T %v, want a *grpcrpc.CallError", err, err)
	}
	if ce.Method != method || ce.Target != target || ce.Code != code {
		t.Errorf("got method %q, target %q, code %v; want %q, %q, %v", ce.Method, ce.Target, ce.Code, method, target, code)
	}
	if prefix := method + " to " + target + ": "; !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%q does not start with %q", err, prefix)
	}
	if status.Code(err) != code {
		t.Errorf("status.Code(%v) = %v, want %v", err, status.Code(err), code)
	}
}

// TestPeerDown: a call to a server that stopped fails at once with an
// error naming the method and the address, and Dial to an address where
// nothing listens gives up when its context ends.
func TestPeerDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	s := grpcrpc.NewServer()
	r := newRecorder()
	grpcrpc.RegisterTaskExecutorServer(s, fakeTaskExecutor{r})
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := grpcrpc.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	te := grpcrpc.NewTaskExecutorClient(cc, "tm-1", 2)
	if err := te.Heartbeat(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// Wait until the client has seen the connection close; a call made
	// before then fails as the connection breaks under it.
	for cc.GetState() == connectivity.Ready {
		if !cc.WaitForStateChange(ctx, connectivity.Ready) {
			t.Fatal("the client did not see the server stop")
		}
	}

	start := time.Now()
	err = te.SubmitTask(ctx, rpc.TaskDeployment{})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the call to a stopped server took %v", d)
	}
	checkCallError(t, err, "TaskExecutor.SubmitTask", addr, codes.Unavailable)
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("%q does not say the connection was refused", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v matches a context error", err)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer dcancel()
	cc2, err := grpcrpc.Dial(dctx, addr)
	if err == nil {
		cc2.Close()
		t.Fatalf("Dial %s succeeded with nothing listening", addr)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "dialing "+addr+" ") {
		t.Errorf("Dial returned %q, want dialing %s … context deadline exceeded", err, addr)
	}
}

func TestLocalValues(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	if c.te.ID() != "tm-1" || c.te.Slots() != 4 {
		t.Errorf("ID, Slots = %q, %d; want tm-1, 4", c.te.ID(), c.te.Slots())
	}
	err := c.jm.RegisterTaskManager(context.Background(), c.te)
	if !errors.Is(err, grpcrpc.ErrRegisterWithResourceManager) {
		t.Errorf("RegisterTaskManager returned %v, want ErrRegisterWithResourceManager", err)
	}
	if want := "JobMaster.RegisterTaskManager of tm-1 to passthrough:///bufnet: " + grpcrpc.ErrRegisterWithResourceManager.Error(); err.Error() != want {
		t.Errorf("RegisterTaskManager returned %q, want %q", err, want)
	}
	if calls := r.take(); len(calls) != 0 {
		t.Errorf("the server received %+v", calls)
	}
}

// TestLargeDeployment: a deployment larger than gRPC's default 4 MiB
// limit (a restore with much checkpoint metadata) crosses.
func TestLargeDeployment(t *testing.T) {
	r := newRecorder()
	c := serve(t, r)
	d := rpc.TaskDeployment{Restore: &rpc.RestoreDeployment{Checkpoint: rpc.Checkpoint{
		ID:         7,
		Properties: map[string][]byte{"big": make([]byte, 6<<20)},
	}}}
	if err := c.te.SubmitTask(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	calls := r.take()
	if len(calls) != 1 || !reflect.DeepEqual(calls[0].args, []any{d}) {
		t.Errorf("the server did not receive the deployment")
	}
}

// BenchmarkSubmitTask is one deployment with every field set, from client
// to gateway and back, over an in-memory connection.
func BenchmarkSubmitTask(b *testing.B) {
	r := newRecorder()
	c := serve(b, r)
	d := fill[rpc.TaskDeployment](&filler{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.te.SubmitTask(ctx, d); err != nil {
			b.Fatal(err)
		}
		r.take()
	}
}
