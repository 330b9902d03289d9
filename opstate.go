package freshet

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
)

// CheckpointedFunction is implemented by a process-family function that
// keeps operator state: state of its parallel instance rather than of a
// key, such as a buffer, an offset or a count (Flink's
// CheckpointedFunction).
//
// InitializeState is called in every subtask before Open, on a fresh start
// and on a restore (ctx.IsRestored tells which): get the operator state
// there with ListState or UnionListState, which hold what the subtask was
// given from the checkpoint. SnapshotState is called at every checkpoint,
// before the state is written: move into operator state what the function
// keeps elsewhere. Both run on the subtask's goroutine, between elements.
//
// The function value is shared by all subtasks of its operator, so keep
// what a subtask holds in its operator state, not in fields: the handles
// ListState returns are per subtask, and any call of the function can get
// its own again with ListState(ctx.Runtime(), d).
type CheckpointedFunction interface {
	InitializeState(ctx *StateInitializationContext) error
	SnapshotState(ctx *StateSnapshotContext) error
}

// CheckpointListener is implemented by a process-family function that
// wants to know when a checkpoint completes or is aborted (Flink's
// CheckpointListener), such as one that commits side effects once the
// state that covers them is durable. The calls run on the subtask's
// goroutine; a notification may be skipped (a later one covers it), and an
// error fails the subtask.
type CheckpointListener interface {
	NotifyCheckpointComplete(checkpointID int64) error
	NotifyCheckpointAborted(checkpointID int64) error
}

// OperatorStateContext is where a function gets its operator state with
// ListState and UnionListState: the context of InitializeState or
// SnapshotState, or the RuntimeContext of any call (ctx.Runtime()).
type OperatorStateContext interface {
	operatorContext() *operator.Context
}

// StateInitializationContext is the context of InitializeState (Flink's
// FunctionInitializationContext).
type StateInitializationContext struct{ rc RuntimeContext }

// IsRestored reports whether the subtask was restored from a checkpoint
// (its operator state may still be empty).
func (c *StateInitializationContext) IsRestored() bool { return c.rc.c.IsRestored() }

// Runtime tells where the function runs.
func (c *StateInitializationContext) Runtime() *RuntimeContext { return &c.rc }

func (c *StateInitializationContext) operatorContext() *operator.Context { return c.rc.c }

// StateSnapshotContext is the context of SnapshotState (Flink's
// FunctionSnapshotContext).
type StateSnapshotContext struct {
	rc RuntimeContext
	id int64
}

// CheckpointID is the id of the checkpoint being taken.
func (c *StateSnapshotContext) CheckpointID() int64 { return c.id }

// Runtime tells where the function runs.
func (c *StateSnapshotContext) Runtime() *RuntimeContext { return &c.rc }

func (c *StateSnapshotContext) operatorContext() *operator.Context { return c.rc.c }

func (r *RuntimeContext) operatorContext() *operator.Context { return r.c }

// OperatorListState is a list of operator state of one subtask (Flink's
// operator ListState). Its contents are in the subtask's snapshots element
// by element, so that a restore at another parallelism can redistribute
// them: evenly (ListState) or all to every subtask (UnionListState). It is
// for the subtask's goroutine only.
type OperatorListState[T any] struct {
	l *statebackend.OpList[T]
}

// Get returns a copy of the list; the elements themselves are not copied.
func (s *OperatorListState[T]) Get() []T { return slices.Clone(s.l.Values) }

// Update replaces the list with a copy of vs.
func (s *OperatorListState[T]) Update(vs []T) { s.l.Values = slices.Clone(vs) }

// Add appends v to the list.
func (s *OperatorListState[T]) Add(v T) { s.l.Values = append(s.l.Values, v) }

// Clear empties the list.
func (s *OperatorListState[T]) Clear() { s.l.Values = nil }

// Len is the length of the list.
func (s *OperatorListState[T]) Len() int { return len(s.l.Values) }

// ListState returns the operator list state d describes, of the subtask
// ctx belongs to (Flink's getListState): on a restore at another
// parallelism, the lists of all old subtasks are concatenated and cut into
// nearly equal consecutive parts, one per new subtask. The same name gives
// the same list for the life of the subtask.
//
// The error wraps state.ErrIncompatibleState when d cannot be used (no
// codec, a TTL, which operator state does not have) or when its name is
// already used with another element type or as union list state.
func ListState[T any](ctx OperatorStateContext, d *state.ListDescriptor[T]) (*OperatorListState[T], error) {
	return operatorList(ctx, d, statebackend.SplitEven)
}

// UnionListState returns the operator union list state d describes
// (Flink's getUnionListState): on a restore, every subtask gets the
// concatenated lists of all old subtasks, whatever the parallelism, and
// picks what it needs. Errors are as for ListState.
func UnionListState[T any](ctx OperatorStateContext, d *state.ListDescriptor[T]) (*OperatorListState[T], error) {
	return operatorList(ctx, d, statebackend.Union)
}

func operatorList[T any](ctx OperatorStateContext, d *state.ListDescriptor[T], dist statebackend.Distribution) (*OperatorListState[T], error) {
	// The errors need not name the operator: the runtime wraps what the
	// function returns in an error that does.
	if d == nil {
		return nil, fmt.Errorf("%w: the operator state descriptor is nil", state.ErrIncompatibleState)
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("operator state: %w", err)
	}
	if d.Type() != reflect.TypeFor[[]T]() {
		return nil, fmt.Errorf("%w: %s: operator state has no TTL", state.ErrIncompatibleState, d)
	}
	ops := ctx.operatorContext().State()
	c := d.ElementCodec()
	// A restored list whose element layout changed is read with the old
	// layout, as keyed state is (state.Migrate).
	old, err := opStateSchema(ops, d.Name(), state.SchemaOf(d))
	if err != nil {
		return nil, err
	}
	if now := state.SchemaOf(d); old != "" && now != "" && old != now {
		elem, ok := strings.CutPrefix(old, "[]")
		dec, err := codec.Migration[T](elem)
		if !ok || err != nil {
			if err == nil {
				err = fmt.Errorf("%w: stored as %s", codec.ErrIncompatible, old)
			}
			return nil, fmt.Errorf("%w: operator %s: stored as %s, now %s: %w", state.ErrIncompatibleState, d, old, now, err)
		}
		if c == nil {
			if c, err = codec.Of[T](); err != nil {
				return nil, fmt.Errorf("operator state %s: %w", d, err)
			}
		}
		c = migratingCodec[T]{Codec: c, dec: dec}
	}
	l, err := statebackend.GetList(ops, d.Name(), dist, c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", state.ErrIncompatibleState, err)
	}
	return &OperatorListState[T]{l: l}, nil
}

// migratingCodec decodes elements of an older layout and encodes them in
// the current one.
type migratingCodec[T any] struct {
	codec.Codec[T]
	dec func(src []byte) (T, int, error)
}

func (m migratingCodec[T]) Decode(src []byte) (T, int, error) { return m.dec(src) }

// opStateSchemas names the operator state holding the element layouts of
// an operator's list states; every subtask holds the same.
const opStateSchemas = "operator-state-schemas"

// opStateSchema returns the layout list state name had in the snapshot
// restored, if any, and records its layout now.
func opStateSchema(ops *statebackend.OperatorState, name, now string) (string, error) {
	l, err := statebackend.GetList[string](ops, opStateSchemas, statebackend.Broadcast, nil)
	if err != nil {
		return "", err
	}
	old := ""
	entry := name + "\x00" + now
	for i, e := range l.Values {
		if n, sc, ok := strings.Cut(e, "\x00"); ok && n == name {
			old = sc
			l.Values[i] = entry
			return old, nil
		}
	}
	l.Values = append(l.Values, entry)
	return old, nil
}

// openFn opens a process-family function: its operator state is
// initialized (CheckpointedFunction), its checkpoint hooks registered
// (CheckpointedFunction, CheckpointListener), then it is opened.
func openFn(fn Lifecycle, c *operator.Context) error {
	var hooks operator.CheckpointHooks
	if cf, ok := fn.(CheckpointedFunction); ok {
		if err := cf.InitializeState(&StateInitializationContext{rc: RuntimeContext{c: c}}); err != nil {
			return fmt.Errorf("initializing state of function %T: %w", fn, err)
		}
		hooks.Snapshot = func(id int64) error {
			if err := cf.SnapshotState(&StateSnapshotContext{rc: RuntimeContext{c: c}, id: id}); err != nil {
				return fmt.Errorf("snapshotting state of function %T: %w", fn, err)
			}
			return nil
		}
	}
	if cl, ok := fn.(CheckpointListener); ok {
		hooks.Complete = func(id int64) error {
			if err := cl.NotifyCheckpointComplete(id); err != nil {
				return fmt.Errorf("function %T: %w", fn, err)
			}
			return nil
		}
		hooks.Aborted = func(id int64) error {
			if err := cl.NotifyCheckpointAborted(id); err != nil {
				return fmt.Errorf("function %T: %w", fn, err)
			}
			return nil
		}
	}
	if hooks.Snapshot != nil || hooks.Complete != nil {
		c.OnCheckpoint(hooks)
	}
	if err := fn.Open(&RuntimeContext{c: c}); err != nil {
		return fmt.Errorf("opening function %T: %w", fn, err)
	}
	return nil
}

// hookMethods are the methods of the checkpoint interfaces, with the
// interface each belongs to.
var hookMethods = []struct {
	name  string
	iface reflect.Type
}{
	{"InitializeState", reflect.TypeFor[CheckpointedFunction]()},
	{"SnapshotState", reflect.TypeFor[CheckpointedFunction]()},
	{"NotifyCheckpointComplete", reflect.TypeFor[CheckpointListener]()},
	{"NotifyCheckpointAborted", reflect.TypeFor[CheckpointListener]()},
}

// checkHooks reports a function that has a method of CheckpointedFunction
// or CheckpointListener but does not implement that interface, such as one
// whose InitializeState takes another argument: the runtime would never
// call it, which Go cannot tell, as implementing the interface is optional.
func checkHooks(fn any) error {
	if fn == nil {
		return nil
	}
	t := reflect.TypeOf(fn)
	for _, h := range hookMethods {
		want, _ := h.iface.MethodByName(h.name)
		m, ok := t.MethodByName(h.name)
		if !ok {
			if t.Kind() != reflect.Pointer {
				if pm, ok := reflect.PointerTo(t).MethodByName(h.name); ok {
					return fmt.Errorf("function %s has method %s%s on its pointer type %s only, so it does not implement freshet.%s: pass a pointer",
						t, h.name, signature(pm.Type, true), reflect.PointerTo(t), h.iface.Name())
				}
			}
			continue
		}
		if got, wanted := signature(m.Type, true), signature(want.Type, false); got != wanted {
			return fmt.Errorf("function %s has method %s%s, but freshet.%s wants %s%s: the runtime would never call it",
				t, h.name, got, h.iface.Name(), h.name, wanted)
		}
		if !t.Implements(h.iface) {
			for i := range h.iface.NumMethod() {
				other := h.iface.Method(i)
				if _, ok := t.MethodByName(other.Name); !ok {
					return fmt.Errorf("function %s has method %s%s but no %s%s, so it does not implement freshet.%s: the runtime would never call it",
						t, h.name, signature(m.Type, true), other.Name, signature(other.Type, false), h.iface.Name())
				}
			}
		}
	}
	return nil
}

// signature formats a function type without "func" and, for a method's
// type from reflect.Type.MethodByName, without its receiver, such as
// "(int64) error".
func signature(t reflect.Type, hasReceiver bool) string {
	var in, out []string
	for i := range t.NumIn() {
		if i == 0 && hasReceiver {
			continue
		}
		s := t.In(i).String()
		if t.IsVariadic() && i == t.NumIn()-1 {
			s = "..." + t.In(i).Elem().String()
		}
		in = append(in, s)
	}
	for i := range t.NumOut() {
		out = append(out, t.Out(i).String())
	}
	sig := "(" + strings.Join(in, ", ") + ")"
	switch len(out) {
	case 0:
	case 1:
		sig += " " + out[0]
	default:
		sig += " (" + strings.Join(out, ", ") + ")"
	}
	return sig
}

// checkHooksOn makes the program invalid, naming the operator of n, when
// fn has a checkpoint method of the wrong signature (see checkHooks).
func checkHooksOn(n *graph.Node, fn any) {
	prev := n.Validate
	n.Validate = func() error {
		if err := checkHooks(fn); err != nil {
			return err
		}
		if prev != nil {
			return prev()
		}
		return nil
	}
}
