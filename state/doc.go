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
// State time-to-live and operator (non-keyed) state will plug in here: a
// TTL option on descriptors, applied by the store on reads and writes, and
// operator list and union-list state obtained from the function's runtime
// context. Snapshots are the state backend's (internal/statebackend):
// they write each table key group by key group with the descriptors'
// codecs.
package state
