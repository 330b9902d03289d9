package freshet

import (
	"fmt"
	"time"

	"github.com/freshet-io/freshet/internal/restart"
)

// RestartStrategy decides whether and when a failed job restarts (Flink's
// restart strategies). A restart redeploys every subtask with the next
// attempt number (RuntimeContext.Attempt); sources start again from the
// beginning, since the job does not take checkpoints yet. Pass one to
// WithRestartStrategy; without, a failed job does not restart, as in Flink
// when checkpointing is off.
type RestartStrategy struct {
	name string
	// make returns a fresh strategy for one job run: strategies count the
	// failures of their job.
	make func() (restart.Strategy, error)
}

// String names the strategy.
func (r RestartStrategy) String() string { return r.name }

// NoRestart never restarts: the first failure fails the job.
func NoRestart() RestartStrategy {
	return RestartStrategy{name: "none", make: func() (restart.Strategy, error) { return restart.None(), nil }}
}

// FixedDelayRestart restarts up to attempts times, each after delay
// (Flink's fixed-delay strategy).
func FixedDelayRestart(attempts int, delay time.Duration) RestartStrategy {
	return RestartStrategy{name: fmt.Sprintf("fixed delay (%d attempts, %s)", attempts, delay), make: func() (restart.Strategy, error) {
		return restart.FixedDelay(restart.WithAttempts(attempts), restart.WithDelay(delay))
	}}
}

// FailureRateRestart restarts after delay as long as no more than
// maxFailures failures fall within interval (Flink's failure-rate
// strategy).
func FailureRateRestart(maxFailures int, interval, delay time.Duration) RestartStrategy {
	return RestartStrategy{name: fmt.Sprintf("failure rate (%d per %s, %s)", maxFailures, interval, delay), make: func() (restart.Strategy, error) {
		return restart.FailureRate(restart.WithMaxFailures(maxFailures), restart.WithInterval(interval), restart.WithDelay(delay))
	}}
}

// ExponentialDelayRestart restarts without limit, first after initial, each
// further delay 1.5 times the previous one up to max, with a jitter of 10%,
// the delay starting over once the job has run an hour without failing
// (Flink's exponential-delay strategy with its 1.19 defaults).
func ExponentialDelayRestart(initial, max time.Duration) RestartStrategy {
	return RestartStrategy{name: fmt.Sprintf("exponential delay (%s to %s)", initial, max), make: func() (restart.Strategy, error) {
		return restart.ExponentialDelay(restart.WithInitialBackoff(initial), restart.WithMaxBackoff(max))
	}}
}

// WithRestartStrategy sets what happens after a failure (default
// NoRestart). A strategy with an invalid setting is an error naming it.
func WithRestartStrategy(r RestartStrategy) Option {
	return func(c *config) error {
		if r.make == nil {
			return fmt.Errorf("restart strategy is the zero value; use NoRestart, FixedDelayRestart, FailureRateRestart or ExponentialDelayRestart")
		}
		if _, err := r.make(); err != nil {
			return fmt.Errorf("restart strategy %s: %w", r.name, err)
		}
		c.restart = r
		return nil
	}
}
