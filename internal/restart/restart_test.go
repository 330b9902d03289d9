package restart

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0         = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	errFailure = errors.New("task failed")
)

// step is one failure and what the strategy must answer.
type step struct {
	at      time.Duration // since t0
	restart bool
	delay   time.Duration
}

func run(t *testing.T, s Strategy, steps []step) {
	t.Helper()
	for i, st := range steps {
		restart, delay := s.OnFailure(t0.Add(st.at), errFailure)
		if restart != st.restart || delay != st.delay {
			t.Fatalf("%v: failure %d at +%v: (%v, %v), want (%v, %v)", s, i+1, st.at, restart, delay, st.restart, st.delay)
		}
	}
}

// must fails the test (by panicking) on a constructor's error.
func must(s Strategy, err error) Strategy {
	if err != nil {
		panic(err)
	}
	return s
}

func TestNone(t *testing.T) {
	run(t, None(), []step{{0, false, 0}, {time.Hour, false, 0}})
	run(t, Default(false), []step{{0, false, 0}})
}

func TestFixedDelay(t *testing.T) {
	t.Run("attempts", func(t *testing.T) {
		s := must(FixedDelay(WithAttempts(3), WithDelay(10*time.Second)))
		run(t, s, []step{
			{0, true, 10 * time.Second},
			{time.Minute, true, 10 * time.Second},
			{time.Hour, true, 10 * time.Second}, // no reset, however long it ran
			{2 * time.Hour, false, 0},
			{3 * time.Hour, false, 0},
		})
	})
	t.Run("defaults", func(t *testing.T) {
		s := must(FixedDelay())
		run(t, s, []step{{0, true, time.Second}, {time.Minute, false, 0}})
	})
	t.Run("zero attempts", func(t *testing.T) {
		run(t, must(FixedDelay(WithAttempts(0))), []step{{0, false, 0}})
	})
	t.Run("unlimited", func(t *testing.T) {
		s := must(FixedDelay(WithAttempts(Unlimited), WithDelay(0)))
		for i := range 1000 {
			run(t, s, []step{{time.Duration(i) * time.Second, true, 0}})
		}
	})
}

func TestFailureRate(t *testing.T) {
	opts := []Option{WithMaxFailures(3), WithInterval(5 * time.Minute), WithDelay(10 * time.Second)}
	t.Run("exceeded", func(t *testing.T) {
		run(t, must(FailureRate(opts...)), []step{
			{0, true, 10 * time.Second},
			{time.Minute, true, 10 * time.Second},
			{2 * time.Minute, true, 10 * time.Second},
			{5 * time.Minute, false, 0}, // the failure at 0 is exactly 5 min old: still in the window
		})
	})
	t.Run("window slides", func(t *testing.T) {
		run(t, must(FailureRate(opts...)), []step{
			{0, true, 10 * time.Second},
			{time.Minute, true, 10 * time.Second},
			{2 * time.Minute, true, 10 * time.Second},
			{5*time.Minute + 1, true, 10 * time.Second}, // 0 has left the window
			{6*time.Minute + 1, true, 10 * time.Second}, // and so has 1 min
			{6*time.Minute + 2, false, 0},               // 2m, 5m, 6m, 6m: four in 5 min
		})
	})
	t.Run("one per interval", func(t *testing.T) {
		// Flink's testManyFailuresWithinRate: 1 failure per 1 ms, failures 2 ms apart.
		s := must(FailureRate(WithMaxFailures(1), WithInterval(time.Millisecond), WithDelay(0)))
		for i := range 10 {
			run(t, s, []step{{time.Duration(2*i) * time.Millisecond, true, 0}})
		}
		run(t, s, []step{{19 * time.Millisecond, false, 0}})
	})
	t.Run("defaults", func(t *testing.T) {
		run(t, must(FailureRate()), []step{
			{0, true, time.Second},
			{time.Minute + 1, true, time.Second},
			{2 * time.Minute, false, 0},
		})
	})
	t.Run("memory stays bounded", func(t *testing.T) {
		s := must(FailureRate(WithMaxFailures(2), WithInterval(time.Hour))).(*failureRate)
		for i := range 100 {
			s.OnFailure(t0.Add(time.Duration(i)*time.Hour), errFailure)
		}
		if len(s.failures) > 3 {
			t.Fatalf("%d failures kept, want at most max+1", len(s.failures))
		}
	})
}

// exponential is exponential delay without jitter, with Flink's documented example settings.
func exponential(t *testing.T, opts ...Option) Strategy {
	t.Helper()
	base := []Option{WithInitialBackoff(time.Second), WithMaxBackoff(10 * time.Second), WithMultiplier(2), WithJitter(0), WithResetThreshold(time.Hour)}
	return must(ExponentialDelay(append(base, opts...)...))
}

func TestExponentialDelay(t *testing.T) {
	t.Run("grows to the max", func(t *testing.T) {
		// Flink's documentation example: 1 s, 2 s, 4 s, 8 s, then 10 s.
		// Each failure comes 1 s after the previous restart.
		run(t, exponential(t), []step{
			{0, true, time.Second},
			{2 * time.Second, true, 2 * time.Second},
			{5 * time.Second, true, 4 * time.Second},
			{10 * time.Second, true, 8 * time.Second},
			{19 * time.Second, true, 10 * time.Second},
			{30 * time.Second, true, 10 * time.Second},
		})
	})
	t.Run("reset after a quiet hour", func(t *testing.T) {
		run(t, exponential(t), []step{
			{0, true, time.Second},
			{2 * time.Second, true, 2 * time.Second},
			// Restarted at 4 s; failing 1 h - 1 ns later is not quiet enough.
			{time.Hour + 4*time.Second - 1, true, 4 * time.Second},
			// Restarted at 1 h 8 s - 1 ns; a full hour later it resets.
			{2*time.Hour + 8*time.Second - 1, true, time.Second},
			{2*time.Hour + 10*time.Second, true, 2 * time.Second},
		})
	})
	t.Run("failures while waiting count once", func(t *testing.T) {
		run(t, exponential(t, WithAttempts(2)), []step{
			{0, true, time.Second},
			{300 * time.Millisecond, true, 700 * time.Millisecond}, // same restart
			{time.Second, true, 0},                                 // at the restart time: still the same
			{2 * time.Second, true, 2 * time.Second},
			{5 * time.Second, false, 0}, // a third attempt
		})
	})
	t.Run("attempts before reset", func(t *testing.T) {
		s := exponential(t, WithAttempts(3))
		run(t, s, []step{
			{0, true, time.Second},
			{2 * time.Second, true, 2 * time.Second},
			{5 * time.Second, true, 4 * time.Second},
			{10 * time.Second, false, 0},
		})
		s = exponential(t, WithAttempts(3))
		run(t, s, []step{
			{0, true, time.Second},
			{2 * time.Second, true, 2 * time.Second},
			{5 * time.Second, true, 4 * time.Second},
			{time.Hour + 10*time.Second, true, time.Second}, // the count resets with the backoff
			{time.Hour + 12*time.Second, true, 2 * time.Second},
		})
	})
	t.Run("huge attempt counts do not overflow", func(t *testing.T) {
		s := exponential(t, WithMultiplier(1e6))
		now := t0
		for range 200 {
			restart, delay := s.OnFailure(now, errFailure)
			if !restart || delay != 10*time.Second && now != t0 {
				t.Fatalf("(%v, %v) at %v, want the 10 s max", restart, delay, now)
			}
			now = now.Add(delay + time.Second)
		}
	})
}

func TestExponentialJitter(t *testing.T) {
	const jitter = 0.25
	bases := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	delays := func(seed uint64) []time.Duration {
		s := must(ExponentialDelay(WithInitialBackoff(time.Second), WithMaxBackoff(20*time.Second),
			WithMultiplier(2), WithJitter(jitter), WithSource(rand.New(rand.NewPCG(seed, 7)))))
		var out []time.Duration
		now := t0
		for range bases {
			restart, d := s.OnFailure(now, errFailure)
			if !restart {
				t.Fatal("no restart")
			}
			out = append(out, d)
			now = now.Add(d + time.Second)
		}
		return out
	}
	var sawLow, sawHigh bool
	for seed := range uint64(300) {
		got := delays(seed)
		for i, d := range got {
			b := bases[i]
			lo := min(20*time.Second, max(time.Second, b-time.Duration(float64(b)*jitter)))
			hi := min(20*time.Second, b+time.Duration(float64(b)*jitter))
			if d < lo || d > hi {
				t.Fatalf("seed %d, restart %d: delay %v outside [%v, %v]", seed, i+1, d, lo, hi)
			}
			if i == 2 {
				sawLow = sawLow || d < 3500*time.Millisecond
				sawHigh = sawHigh || d > 4500*time.Millisecond
			}
		}
		if again := delays(seed); !reflect.DeepEqual(again, got) {
			t.Fatalf("seed %d: %v then %v; the same source must give the same delays", seed, got, again)
		}
	}
	if !sawLow || !sawHigh {
		t.Errorf("the third delay never went far from 4 s either way (low %v, high %v)", sawLow, sawHigh)
	}
}

func TestDefaults(t *testing.T) {
	s, ok := Default(true).(*exponentialDelay)
	if !ok {
		t.Fatalf("Default(true) = %v, want exponential delay", Default(true))
	}
	want := &exponentialDelay{initial: time.Second, max: time.Minute, multiplier: 1.5, reset: time.Hour,
		jitter: 0.1, attempts: Unlimited, source: globalSource{}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Default(true) = %v\nwant %v", s, want)
	}
	e := must(ExponentialDelay()).(*exponentialDelay)
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("ExponentialDelay() = %v, want Flink's defaults %v", e, want)
	}
	_, d := s.OnFailure(t0, errFailure)
	if d < time.Second || d > 1100*time.Millisecond {
		t.Fatalf("first default delay %v, want 1 s plus up to 10%%", d)
	}
	if got := Default(true).String(); !strings.Contains(got, "backoff-multiplier=1.5") {
		t.Errorf("String() = %q", got)
	}
}

func TestInvalidSettings(t *testing.T) {
	cases := []struct {
		name string
		make func() (Strategy, error)
		want string
	}{
		{"fixed negative attempts", func() (Strategy, error) { return FixedDelay(WithAttempts(-1)) }, "fixed-delay restart strategy: attempts -1"},
		{"fixed negative delay", func() (Strategy, error) { return FixedDelay(WithDelay(-time.Second)) }, "delay -1s"},
		{"fixed jitter", func() (Strategy, error) { return FixedDelay(WithJitter(0.1)) }, "fixed-delay restart strategy has no jitter factor setting"},
		{"rate zero failures", func() (Strategy, error) { return FailureRate(WithMaxFailures(0)) }, "max failures per interval 0"},
		{"rate zero interval", func() (Strategy, error) { return FailureRate(WithInterval(0)) }, "interval 0s"},
		{"rate attempts", func() (Strategy, error) { return FailureRate(WithAttempts(3)) }, "failure-rate restart strategy has no attempts setting"},
		{"exp initial", func() (Strategy, error) { return ExponentialDelay(WithInitialBackoff(0)) }, "initial backoff 0s"},
		{"exp initial above max", func() (Strategy, error) {
			return ExponentialDelay(WithInitialBackoff(time.Hour), WithMaxBackoff(time.Minute))
		}, "initial backoff 1h0m0s above max backoff 1m0s"},
		{"exp multiplier", func() (Strategy, error) { return ExponentialDelay(WithMultiplier(1)) }, "backoff multiplier 1"},
		{"exp multiplier NaN", func() (Strategy, error) { return ExponentialDelay(WithMultiplier(nan())) }, "backoff multiplier NaN"},
		{"exp jitter", func() (Strategy, error) { return ExponentialDelay(WithJitter(1.5)) }, "jitter factor 1.5"},
		{"exp reset", func() (Strategy, error) { return ExponentialDelay(WithResetThreshold(0)) }, "reset-backoff threshold 0s"},
		{"exp attempts", func() (Strategy, error) { return ExponentialDelay(WithAttempts(0)) }, "attempts 0"},
		{"exp source", func() (Strategy, error) { return ExponentialDelay(WithSource(nil)) }, "nil random source"},
		{"exp delay", func() (Strategy, error) { return ExponentialDelay(WithDelay(time.Second)) }, "exponential-delay restart strategy has no delay setting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.make()
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want ErrInvalidOption naming %q", s, err, tc.want)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }
