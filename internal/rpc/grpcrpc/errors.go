package grpcrpc

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/rpc/rpcpb"
)

// ErrRegisterWithResourceManager is returned by a JobMaster client's
// RegisterTaskManager: in a distributed cluster TaskManagers register with
// the resource manager, not with a job master.
var ErrRegisterWithResourceManager = errors.New("freshet: TaskManagers register with the resource manager, not the job master")

// CallError is a call that failed on the way rather than in the gateway
// it called: the peer was unreachable or went away, the caller's context
// ended, or the peer does not serve the method. It matches
// context.Canceled or context.DeadlineExceeded when the caller's context
// ended it, and status.Code gives its gRPC code.
type CallError struct {
	// Method is the service and method, such as "TaskExecutor.SubmitTask".
	Method string
	// Target is the address the connection was dialed with.
	Target string
	// Code and Message are the gRPC status of the failed call.
	Code    codes.Code
	Message string
	cause   error
}

func (e *CallError) Error() string { return e.Method + " to " + e.Target + ": " + e.Message }

// Unwrap returns context.Canceled or context.DeadlineExceeded when the
// call ended with the caller's context, else nil.
func (e *CallError) Unwrap() error { return e.cause }

// GRPCStatus returns the call's gRPC status.
func (e *CallError) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// statusOf returns a gateway's error as a gRPC status error whose details
// carry the error as an rpc.SerializedError; nil for nil.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	st := status.New(codeOf(err), err.Error())
	if d, derr := st.WithDetails(serializedErrorToPB(rpc.SerializeError(err, nil))); derr == nil {
		st = d
	}
	return st.Err()
}

// codeOf is the gRPC code of a gateway's error, for tools that see only
// the status; Freshet's clients use the SerializedError.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, rpc.ErrNoSuchTask), errors.Is(err, rpc.ErrUnknownJob), errors.Is(err, rpc.ErrUnknownTaskManager):
		return codes.NotFound
	case errors.Is(err, rpc.ErrSlotNotAllocated):
		return codes.FailedPrecondition
	}
	return codes.Unknown
}

// targeter is a connection that knows the address it was dialed with, as
// *grpc.ClientConn does.
type targeter interface{ Target() string }

// peer is the client side of a connection: it turns a call's error back
// into the gateway's error, or into a CallError naming method and target.
type peer struct {
	target string
}

func newPeer(cc grpc.ClientConnInterface) peer {
	target := "(unknown address)"
	if t, ok := cc.(targeter); ok {
		target = t.Target()
	}
	return peer{target: target}
}

// err returns the error of a call of method with ctx.
func (p peer) err(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	if c := st.Code(); c == codes.Canceled || c == codes.DeadlineExceeded {
		if ctxErr := contextEnded(ctx); ctxErr != nil {
			// The caller's context ended the call, whether this side or
			// the gateway's (whose deadline is the same or a little
			// later) saw it first.
			return &CallError{Method: method, Target: p.target, Code: status.FromContextError(ctxErr).Code(), Message: ctxErr.Error(), cause: ctxErr}
		}
	}
	for _, d := range st.Details() {
		if se, ok := d.(*rpcpb.SerializedError); ok {
			return serializedErrorFromPB(se).Err(nil)
		}
	}
	e := &CallError{Method: method, Target: p.target, Code: st.Code(), Message: st.Message()}
	switch st.Code() {
	case codes.Canceled:
		e.cause = context.Canceled
	case codes.DeadlineExceeded:
		e.cause = context.DeadlineExceeded
	}
	return e
}

// contextEnded is ctx's error, or context.DeadlineExceeded when its
// deadline passed but its timer has not fired yet.
func contextEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
