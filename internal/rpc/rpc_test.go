package rpc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// messages are the types that cross between JobManager and TaskManagers.
var messages = []any{
	TaskDeployment{}, TaskUpdate{}, CheckpointAck{}, CheckpointDecline{},
	FinalCheckpointWanted{}, TriggerOptions{}, ExecutionID{}, SerializedError{},
	TaskManagerRegistration{}, SlotGrant{}, JobMasterRegistration{}, JobArchive{},
	JobStart{}, Worker{}, HeartbeatConfig{},
}

// TestMessagesArePlainData walks every message type and fails on anything
// a network could not carry: funcs, channels, interfaces, unsafe pointers,
// or pointers to types of other packages (into the runtime).
func TestMessagesArePlainData(t *testing.T) {
	pkg := reflect.TypeFor[TaskDeployment]().PkgPath()
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer, reflect.Uintptr:
			t.Errorf("%s is a %s (%s)", path, typ.Kind(), typ)
		case reflect.Pointer:
			if typ.Elem().PkgPath() != pkg {
				t.Errorf("%s points to %s, outside package rpc", path, typ.Elem())
			}
			walk(path+".*", typ.Elem())
		case reflect.Slice, reflect.Array:
			walk(path+"[]", typ.Elem())
		case reflect.Map:
			walk(path+"[key]", typ.Key())
			walk(path+"[]", typ.Elem())
		case reflect.Struct:
			if typ.PkgPath() != pkg && typ.PkgPath() != "" {
				t.Errorf("%s is %s, a struct of another package", path, typ)
			}
			for i := range typ.NumField() {
				f := typ.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		}
	}
	for _, m := range messages {
		typ := reflect.TypeOf(m)
		walk(typ.Name(), typ)
	}
	// The gateways' methods take only such messages, strings, numbers and bytes.
	for _, gw := range []reflect.Type{reflect.TypeFor[TaskManagerGateway](), reflect.TypeFor[JobManagerGateway](), reflect.TypeFor[TaskExecutorGateway](), reflect.TypeFor[ResourceManagerGateway](), reflect.TypeFor[DispatcherGateway]()} {
		for i := range gw.NumMethod() {
			m := gw.Method(i)
			for j := range m.Type.NumIn() {
				in := m.Type.In(j)
				if in == reflect.TypeFor[context.Context]() || in == reflect.TypeFor[TaskManagerGateway]() {
					continue
				}
				walk(fmt.Sprintf("%s.%s arg %d", gw.Name(), m.Name, j), in)
			}
		}
	}
}

type typedErr struct{ op string }

func (e *typedErr) Error() string { return "operator " + e.op + " failed" }

func TestSerializedError(t *testing.T) {
	errUser := errors.New("user sentinel")
	cause := fmt.Errorf("reading: %w", &typedErr{op: "map"})
	err := fmt.Errorf("subtask x: %w", errors.Join(cause, fmt.Errorf("%w: stuck", ErrCancellationTimeout), errUser))

	se := SerializeError(err, nil)
	if se.Message != err.Error() || se.Local != 0 {
		t.Fatalf("serialized %+v", se)
	}
	var types []string
	for _, c := range se.Causes {
		types = append(types, c.Type)
	}
	if got, want := strings.Join(types, " "), "*errors.joinError *fmt.wrapError *rpc.typedErr *fmt.wrapError *errors.errorString *errors.errorString"; got != want {
		t.Errorf("cause types %q, want %q", got, want)
	}
	remote := se.Err(nil)
	if remote.Error() != err.Error() {
		t.Errorf("message %q, want %q", remote, err)
	}
	if !errors.Is(remote, ErrCancellationTimeout) || errors.Is(remote, ErrNoSuchTask) || errors.Is(remote, context.Canceled) {
		t.Errorf("remote error matches the wrong sentinels: codes %v", se.Codes)
	}
	if errors.Is(remote, errUser) {
		t.Error("a remote error matches a sentinel of the sender's program")
	}
	if SerializeError(nil, nil) != nil || (*SerializedError)(nil).Err(nil) != nil {
		t.Error("nil does not stay nil")
	}

	// In one process, the table gives the original back, once.
	table := NewErrorTable()
	se = SerializeError(err, table)
	if got := se.Err(table); got != err {
		t.Errorf("through the table: %v, want the original", got)
	}
	if table.Len() != 0 {
		t.Errorf("table keeps %d errors after they were taken", table.Len())
	}
	if got := se.Err(table); !errors.Is(got, ErrCancellationTimeout) || got == err {
		t.Errorf("taken twice: %v, want a remote copy", got)
	}
	se = SerializeError(context.Canceled, table)
	if !errors.Is(se.Err(NewErrorTable()), context.Canceled) {
		t.Error("another process's table gives back a wrong error")
	}
}
