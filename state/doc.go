// Package state is the keyed state a function keeps between elements
// (Flink's keyed state): values, lists, maps and reduced or aggregated
// values, scoped to the current key and, in windows, the current window.
// The runtime keeps it in a state backend, laid out by key group, so it
// moves with its keys when a job is rescaled.
//
// # Descriptors
//
// Every piece of state is declared once by a descriptor: its name, its
// types, the codec that turns its values into bytes (derived with codec.Of
// unless WithCodec gives one) and, for value state, a default. Declare
// descriptors as package variables and share them between calls:
//
//	var (
//		count = state.NewValue("count", state.WithDefault(0))
//		seen  = state.NewList[string]("seen")
//		last  = state.NewMap[string, int64]("last-by-page")
//		total = state.NewReducing("total", func(a, b int) int { return a + b })
//		avg   = state.NewAggregating[float64, avgAcc, float64]("avg", average{})
//	)
//
// # Reading and writing
//
// A function gets the state of the current key from its context's Store
// and a descriptor, then reads and writes it explicitly:
//
//	func (counter) ProcessElement(ctx *freshet.KeyedContext[string], v Click, out freshet.Collector[Count]) error {
//		c := state.Value(ctx.State(), count)
//		n, _ := c.Value() // 0, the default, for a new key
//		c.Update(n + 1)
//		state.Map(ctx.State(), last).Put(v.Page, v.Time)
//		out.Collect(Count{Key: ctx.CurrentKey(), N: n + 1})
//		return nil
//	}
//
// Reads return values the caller owns: a list from ListState.Get is a
// copy, and a value whose type holds slices, maps or pointers is copied
// through its codec on the way in and out, so no caller holds memory of
// the backend and a backend that keeps bytes serves the same API. Writes
// are explicit: Update, Add, Put, Remove and Clear each write the state.
//
// Using one name with two descriptors of different kinds or types fails
// the job with ErrIncompatibleState naming the state, as does a descriptor
// whose types have no codec.
//
// # Where state lives
//
// Process functions on keyed streams (KeyedProcess, KeyedCoProcess,
// KeyedBroadcastProcess) get the current key's state from ctx.State();
// window functions get per-window state from ctx.WindowState() and state
// shared by a key's windows from ctx.GlobalState(); ApplyToKeyedState of a
// keyed broadcast function visits every key that has a state.
//
// # Time-to-live
//
// A descriptor's WithTTL gives its state a time-to-live (Flink's
// StateTtlConfig): each value is stored with the processing time of its
// last access, and Duration after that access it has expired. List
// elements and map entries each have their own time, so they expire one by
// one; value, reducing and aggregating state have one per key.
//
//	var lastLogin = state.NewValue[int64]("last-login").WithTTL(state.TTL{
//		Duration: 24 * time.Hour,
//		// Reads renew the time too (the default is OnCreateAndWrite).
//		Update: state.OnReadAndWrite,
//		// An expired value is never read (the default).
//		Visibility: state.NeverReturnExpired,
//		// Every access checks 10 more entries of the table.
//		CleanupIncrementally: 10,
//	})
//
//	func (f *tracker) ProcessElement(ctx *freshet.KeyedContext[string], l Login, out freshet.Collector[Alert]) error {
//		last := state.Value(ctx.State(), lastLogin)
//		if _, ok := last.Value(); !ok {
//			out.Collect(Alert{User: l.User}) // the first login in a day
//		}
//		last.Update(l.Time)
//		return nil
//	}
//
// With a TTL of 100ms and the defaults, a value written at processing
// time 1000 is read until 1099 and not from 1100 on: Value then returns
// the default and false, and the read removes the stored value (cleanup
// on access). With OnReadAndWrite every read of a live value renews it;
// with ReturnExpiredIfNotCleanedUp a read returns an expired value as long
// as it is stored, and removes it as it returns it. Adding to expired
// reducing or aggregating state starts anew with NeverReturnExpired and
// combines with the expired value otherwise, as Flink does.
//
// Time is processing time, the only time Flink measures TTL in, taken
// from the operator's processing-time service (Store.Now), so
// freshettest's WithProcessingTime and SetProcessingTime drive expiry in
// tests. A Duration under a millisecond is an error that Err reports and
// that fails the job at the state's first use, naming the state.
//
// Expired state that is never read again stays stored unless
// CleanupIncrementally is set: then every access to the state also checks
// that many further entries of its table, key group by key group, and
// removes what has expired. CleanupFullSnapshot asks that full snapshots
// leave expired values out; it takes effect once keyed-state snapshots
// exist (the checkpointing work) and changes nothing before.
//
// The last-access time is part of the stored value and of its encoding
// (8 bytes, then the value, through the descriptor's codec), so a backend
// that keeps bytes keeps it, and a state with a TTL is not compatible with
// the same state without one. State without a TTL stores its values as
// before.
//
// Operator (non-keyed) state will plug in here too: operator list and
// union-list state obtained from the function's runtime context.
// Snapshots are the state backend's (internal/statebackend): they write
// each table key group by key group with the descriptors' codecs.
package state
