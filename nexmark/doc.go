// Package nexmark is the Nexmark benchmark on Freshet: the event generator
// of an online auction site as a Freshet source, the benchmark's queries
// written with the public DataStream API, and plain-Go reference
// evaluations of the same queries to check them against.
//
// It reads like a user's program (it imports no internal package) and
// doubles as a large example.
//
// # Events
//
// An Event holds one Person, Auction or Bid. The generator emits them in
// Nexmark's proportions — in every 50 consecutive events, 1 person, then 3
// auctions, then 46 bids — with Nexmark's field rules: ids count up from
// 1000 with the event number; half the bids go to a hot auction and three
// in four come from a hot bidder, three in four auctions from a hot
// seller; persons live in six US states; auctions fall in five categories
// from 10 and last long enough that about 100 are open at once; prices
// range from $1 to $1,000,000 (in cents) with every order of magnitude
// equally likely.
//
// Event n happens at FirstEventTime + n·InterEventDelay (100 µs by
// default: 10,000 events per second of event time) and is a pure function
// of the config's seed and n: every event has its own random generator,
// seeded from both, so a split can start anywhere and a restored job
// emits exactly the events it would have.
//
//	env := freshet.NewEnv(freshet.WithParallelism(2))
//	events, err := nexmark.Events(env, nexmark.GeneratorConfig{Events: 1_000_000})
//	if err != nil { … }
//	freshet.Collect(nexmark.Q5(events))
//	err = env.Execute(ctx, "nexmark q5")
//
// # Splits and checkpoints
//
// At parallelism p the generator makes p splits; split i reads the runs i,
// i+p, i+2p, … of SplitRun consecutive event numbers, so all readers
// advance through event time together and windows close at the same pace
// on every subtask. A split's state is its next event number, recorded in
// every checkpoint. Within a split event time never goes back, so the
// watermark strategy (Watermarks) is monotonous, per split.
//
// # Queries
//
// Q0 to Q9, Q11 and Q12 are Nexmark's queries (Q10 writes files and is
// left out), Q13 to Q17 and Q20 to Q22 those Flink's Nexmark adds that the
// DataStream API expresses (Q18 and Q19 work on retractions, which it does
// not have). Each takes the event stream (Q13 also its side input) and
// returns the query's output stream; Queries lists them by name for tools
// such as the freshet command's bench. Each query's doc comment says what
// it computes. Where an order of updates would depend on how subtasks
// interleave (the running averages of Q4 and Q6), the query applies its
// updates in event-time order, so its output is the same at every
// parallelism and can be compared exactly with the reference.
//
// # Reference
//
// Reference evaluates a query over a slice of events with plain loops and
// maps, for tests and for the bench command's --verify.
package nexmark
