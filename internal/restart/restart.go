// Package restart holds restart strategies: whether a failed job restarts,
// and after what delay. They follow Apache Flink's (none, fixed delay,
// failure rate, exponential delay), with Flink's defaults (Flink 1.19 and
// later, when the exponential-delay strategy became the default).
//
// A strategy is a deterministic core: the caller passes the time of each
// failure in and waits the returned delay itself; nothing here sleeps or
// reads a clock, and the exponential strategy's jitter comes from a random
// source the caller may inject. A strategy is owned by one goroutine (the
// JobManager's job loop); it is not safe for concurrent use.
//
// The JobManager asks the job's strategy after every failed attempt.
package restart

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrInvalidOption is returned for a setting out of range or one that does
// not apply to the strategy; the message names the setting.
var ErrInvalidOption = errors.New("freshet: invalid restart strategy setting")

// Strategy decides what happens after a failure.
type Strategy interface {
	// OnFailure records a failure at now and reports whether the job
	// restarts and, if so, after what delay (from now). err is the
	// failure; the built-in strategies do not look at it (a failure that
	// must not be retried is the caller's to recognise first, as Flink's
	// failure handler does). Once it returns false the job has failed
	// for good.
	OnFailure(now time.Time, err error) (restart bool, delay time.Duration)
	// String describes the strategy and its settings.
	String() string
}

// Unlimited is an attempts setting with no practical limit (Flink's
// Integer.MAX_VALUE).
const Unlimited = math.MaxInt32

// Flink's defaults (RestartStrategyOptions, Flink 1.19+).
const (
	DefaultFixedDelayAttempts = 1           // restart-strategy.fixed-delay.attempts
	DefaultFixedDelay         = time.Second // restart-strategy.fixed-delay.delay

	DefaultMaxFailuresPerInterval = 1           // restart-strategy.failure-rate.max-failures-per-interval
	DefaultFailureRateInterval    = time.Minute // restart-strategy.failure-rate.failure-rate-interval
	DefaultFailureRateDelay       = time.Second // restart-strategy.failure-rate.delay

	DefaultInitialBackoff      = time.Second // restart-strategy.exponential-delay.initial-backoff
	DefaultMaxBackoff          = time.Minute // restart-strategy.exponential-delay.max-backoff (5 min before 1.19)
	DefaultBackoffMultiplier   = 1.5         // restart-strategy.exponential-delay.backoff-multiplier (2.0 before 1.19)
	DefaultResetBackoffAfter   = time.Hour   // restart-strategy.exponential-delay.reset-backoff-threshold
	DefaultJitterFactor        = 0.1         // restart-strategy.exponential-delay.jitter-factor
	DefaultAttemptsBeforeReset = Unlimited   // restart-strategy.exponential-delay.attempts-before-reset-backoff
)

// Default is the strategy Flink uses when none is configured: no restart
// without checkpointing, else exponential delay with its defaults.
func Default(checkpointing bool) Strategy {
	if !checkpointing {
		return None()
	}
	return &exponentialDelay{
		initial:    DefaultInitialBackoff,
		max:        DefaultMaxBackoff,
		multiplier: DefaultBackoffMultiplier,
		reset:      DefaultResetBackoffAfter,
		jitter:     DefaultJitterFactor,
		attempts:   DefaultAttemptsBeforeReset,
		source:     globalSource{},
	}
}

// Source gives the random numbers of the exponential strategy's jitter;
// *math/rand/v2.Rand is one.
type Source interface {
	// Int64N returns a number in [0, n); n > 0.
	Int64N(n int64) int64
}

type globalSource struct{}

func (globalSource) Int64N(n int64) int64 { return rand.Int64N(n) }

// setting names an option, for validation messages.
type setting int

const (
	setAttempts setting = 1 << iota
	setDelay
	setMaxFailures
	setInterval
	setInitialBackoff
	setMaxBackoff
	setMultiplier
	setResetThreshold
	setJitter
	setSource
)

var settingNames = map[setting]string{
	setAttempts:       "attempts",
	setDelay:          "delay",
	setMaxFailures:    "max failures per interval",
	setInterval:       "failure-rate interval",
	setInitialBackoff: "initial backoff",
	setMaxBackoff:     "max backoff",
	setMultiplier:     "backoff multiplier",
	setResetThreshold: "reset-backoff threshold",
	setJitter:         "jitter factor",
	setSource:         "random source",
}

type config struct {
	set            setting
	attempts       int
	delay          time.Duration
	maxFailures    int
	interval       time.Duration
	initialBackoff time.Duration
	maxBackoff     time.Duration
	multiplier     float64
	resetThreshold time.Duration
	jitter         float64
	source         Source
}

// Option sets one setting of a strategy. A setting the strategy does not
// have is an error.
type Option func(*config)

// WithAttempts sets how many restarts fixed delay allows, or how many
// exponential delay allows before its backoff resets.
func WithAttempts(n int) Option {
	return func(c *config) { c.attempts = n; c.set |= setAttempts }
}

// WithDelay sets the fixed or failure-rate delay before each restart.
func WithDelay(d time.Duration) Option {
	return func(c *config) { c.delay = d; c.set |= setDelay }
}

// WithMaxFailures sets how many failures failure rate tolerates within its
// interval; one more fails the job.
func WithMaxFailures(n int) Option {
	return func(c *config) { c.maxFailures = n; c.set |= setMaxFailures }
}

// WithInterval sets failure rate's sliding window.
func WithInterval(d time.Duration) Option {
	return func(c *config) { c.interval = d; c.set |= setInterval }
}

// WithInitialBackoff sets exponential delay's first delay.
func WithInitialBackoff(d time.Duration) Option {
	return func(c *config) { c.initialBackoff = d; c.set |= setInitialBackoff }
}

// WithMaxBackoff caps exponential delay's delay.
func WithMaxBackoff(d time.Duration) Option {
	return func(c *config) { c.maxBackoff = d; c.set |= setMaxBackoff }
}

// WithMultiplier sets the factor exponential delay's backoff grows by per
// restart.
func WithMultiplier(m float64) Option {
	return func(c *config) { c.multiplier = m; c.set |= setMultiplier }
}

// WithResetThreshold sets how long a job must run without failing for
// exponential delay's backoff (and attempt count) to reset.
func WithResetThreshold(d time.Duration) Option {
	return func(c *config) { c.resetThreshold = d; c.set |= setResetThreshold }
}

// WithJitter sets the jitter factor: each exponential delay is moved by a
// random amount of up to this share of itself, either way.
func WithJitter(f float64) Option {
	return func(c *config) { c.jitter = f; c.set |= setJitter }
}

// WithSource sets the random source of the jitter (math/rand/v2's global
// source by default); tests pass a seeded one.
func WithSource(s Source) Option {
	return func(c *config) { c.source = s; c.set |= setSource }
}

func apply(name string, c config, allowed setting, opts []Option) (config, error) {
	for _, o := range opts {
		o(&c)
	}
	for s := setting(1); s <= setSource; s <<= 1 {
		if c.set&s != 0 && allowed&s == 0 {
			return c, fmt.Errorf("%s restart strategy has no %s setting: %w", name, settingNames[s], ErrInvalidOption)
		}
	}
	return c, nil
}

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%s restart strategy: "+format+": %w", append([]any{name}, append(args, ErrInvalidOption)...)...)
}

type none struct{}

// None never restarts.
func None() Strategy { return none{} }

func (none) OnFailure(time.Time, error) (bool, time.Duration) { return false, 0 }
func (none) String() string                                   { return "none" }

type fixedDelay struct {
	attempts int
	delay    time.Duration
	failures int
}

// FixedDelay restarts after a fixed delay, up to a number of attempts
// (Flink's fixed-delay: 1 attempt and 1 s by default; Flink before 1.19
// used it with Unlimited attempts when checkpointing was on).
func FixedDelay(opts ...Option) (Strategy, error) {
	const name = "fixed-delay"
	c, err := apply(name, config{attempts: DefaultFixedDelayAttempts, delay: DefaultFixedDelay}, setAttempts|setDelay, opts)
	if err != nil {
		return nil, err
	}
	if c.attempts < 0 {
		return nil, invalid(name, "attempts %d, want at least 0", c.attempts)
	}
	if c.delay < 0 {
		return nil, invalid(name, "delay %v, want at least 0", c.delay)
	}
	return &fixedDelay{attempts: c.attempts, delay: c.delay}, nil
}

func (s *fixedDelay) OnFailure(time.Time, error) (bool, time.Duration) {
	if s.failures < math.MaxInt {
		s.failures++
	}
	if s.failures > s.attempts {
		return false, 0
	}
	return true, s.delay
}

func (s *fixedDelay) String() string {
	return fmt.Sprintf("fixed-delay(attempts=%d, delay=%v)", s.attempts, s.delay)
}

type failureRate struct {
	maxFailures int
	interval    time.Duration
	delay       time.Duration
	failures    []time.Time // within the window, oldest first; at most maxFailures+1
}

// FailureRate restarts after a fixed delay as long as no more than
// maxFailures failures fall within any interval (Flink's failure-rate: 1
// failure per 1 min, 1 s delay by default). A failure is in the window
// ending at now when it is at most interval before now.
func FailureRate(opts ...Option) (Strategy, error) {
	const name = "failure-rate"
	c, err := apply(name, config{
		maxFailures: DefaultMaxFailuresPerInterval,
		interval:    DefaultFailureRateInterval,
		delay:       DefaultFailureRateDelay,
	}, setMaxFailures|setInterval|setDelay, opts)
	if err != nil {
		return nil, err
	}
	if c.maxFailures < 1 {
		return nil, invalid(name, "max failures per interval %d, want at least 1", c.maxFailures)
	}
	if c.interval <= 0 {
		return nil, invalid(name, "interval %v, want more than 0", c.interval)
	}
	if c.delay < 0 {
		return nil, invalid(name, "delay %v, want at least 0", c.delay)
	}
	return &failureRate{maxFailures: c.maxFailures, interval: c.interval, delay: c.delay}, nil
}

func (s *failureRate) OnFailure(now time.Time, _ error) (bool, time.Duration) {
	s.failures = append(s.failures, now)
	i := 0
	for i < len(s.failures) && now.Sub(s.failures[i]) > s.interval {
		i++
	}
	// Only the newest maxFailures+1 can decide anything.
	i = max(i, len(s.failures)-(s.maxFailures+1))
	s.failures = append(s.failures[:0], s.failures[i:]...)
	if len(s.failures) > s.maxFailures {
		return false, 0
	}
	return true, s.delay
}

func (s *failureRate) String() string {
	return fmt.Sprintf("failure-rate(max-failures-per-interval=%d, interval=%v, delay=%v)", s.maxFailures, s.interval, s.delay)
}

type exponentialDelay struct {
	initial, max time.Duration
	multiplier   float64
	reset        time.Duration
	jitter       float64
	attempts     int
	source       Source

	attempt     int       // restarts since the backoff was last reset
	nextRestart time.Time // when the last granted restart happens; zero before the first failure
}

// ExponentialDelay restarts after a delay that grows by a multiplier with
// every restart, up to a maximum, and resets to the initial delay (and the
// attempt count to zero) once the job has run for the reset threshold
// without failing; each delay is moved by a random jitter and kept within
// [initial, max]. Failures while a restart is pending count as one (the
// delay is what remains of it). Defaults are Flink 1.19's: 1 s initial,
// 1 min max, multiplier 1.5, reset after 1 h, jitter 0.1, unlimited
// attempts.
func ExponentialDelay(opts ...Option) (Strategy, error) {
	const name = "exponential-delay"
	c, err := apply(name, config{
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		multiplier:     DefaultBackoffMultiplier,
		resetThreshold: DefaultResetBackoffAfter,
		jitter:         DefaultJitterFactor,
		attempts:       DefaultAttemptsBeforeReset,
		source:         globalSource{},
	}, setInitialBackoff|setMaxBackoff|setMultiplier|setResetThreshold|setJitter|setAttempts|setSource, opts)
	if err != nil {
		return nil, err
	}
	switch {
	case c.initialBackoff < time.Millisecond:
		return nil, invalid(name, "initial backoff %v, want at least 1ms", c.initialBackoff)
	case c.maxBackoff < time.Millisecond:
		return nil, invalid(name, "max backoff %v, want at least 1ms", c.maxBackoff)
	case c.initialBackoff > c.maxBackoff:
		return nil, invalid(name, "initial backoff %v above max backoff %v", c.initialBackoff, c.maxBackoff)
	case !(c.multiplier > 1) || math.IsInf(c.multiplier, 0):
		return nil, invalid(name, "backoff multiplier %v, want more than 1", c.multiplier)
	case c.resetThreshold < time.Millisecond:
		return nil, invalid(name, "reset-backoff threshold %v, want at least 1ms", c.resetThreshold)
	case !(c.jitter >= 0 && c.jitter <= 1):
		return nil, invalid(name, "jitter factor %v, want 0 to 1", c.jitter)
	case c.attempts < 1:
		return nil, invalid(name, "attempts %d, want at least 1", c.attempts)
	case c.source == nil:
		return nil, invalid(name, "nil random source")
	}
	return &exponentialDelay{
		initial:    c.initialBackoff,
		max:        c.maxBackoff,
		multiplier: c.multiplier,
		reset:      c.resetThreshold,
		jitter:     c.jitter,
		attempts:   c.attempts,
		source:     c.source,
	}, nil
}

// maxBase keeps backoff arithmetic in int64 whatever the attempt count
// (about 73 years; any real max backoff is far below it).
const maxBase = 1 << 61

func (s *exponentialDelay) OnFailure(now time.Time, _ error) (bool, time.Duration) {
	if !s.nextRestart.IsZero() && !now.After(s.nextRestart) {
		// The job is still waiting to restart: the same attempt.
		if s.attempt > s.attempts {
			return false, 0
		}
		return true, s.nextRestart.Sub(now)
	}
	if s.nextRestart.IsZero() || now.Sub(s.nextRestart) >= s.reset {
		s.attempt = 0
	}
	base := float64(s.initial) * math.Pow(s.multiplier, float64(s.attempt))
	b := int64(maxBase)
	if base < maxBase {
		b = int64(base)
	}
	d := b
	if s.jitter > 0 {
		offset := int64(float64(b) * s.jitter)
		d += s.source.Int64N(2*offset+1) - offset
	}
	delay := max(s.initial, min(time.Duration(d), s.max))
	s.nextRestart = now.Add(delay)
	if s.attempt < math.MaxInt {
		s.attempt++
	}
	if s.attempt > s.attempts {
		return false, 0
	}
	return true, delay
}

func (s *exponentialDelay) String() string {
	return fmt.Sprintf("exponential-delay(initial-backoff=%v, max-backoff=%v, backoff-multiplier=%v, reset-backoff-threshold=%v, jitter-factor=%v, attempts-before-reset-backoff=%d)",
		s.initial, s.max, s.multiplier, s.reset, s.jitter, s.attempts)
}
