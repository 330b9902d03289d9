package freshet

import (
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// TestClusterJobDefaults: in a cluster's job master or worker, the
// cluster's parallelism, buffer timeout and state backend apply where the
// program set none, and never over what it set.
func TestClusterJobDefaults(t *testing.T) {
	t.Setenv(cluster.EnvRole, cluster.RoleWorker)
	t.Setenv(cluster.EnvJob, "j")
	t.Setenv("FRESHET_PARALLELISM_DEFAULT", "3")
	t.Setenv("FRESHET_EXECUTION_BUFFER_TIMEOUT", "5ms")
	t.Setenv("FRESHET_STATE_BACKEND_TYPE", "pebble")
	t.Setenv("FRESHET_STATE_BACKEND_INCREMENTAL", "true")
	maxParallelism := func(env *Env) int {
		SinkTo(Map(FromSlice(env, []int{1, 2, 3}), func(v int) int { return v }), &discard[int]{}, "sink")
		g, err := env.plan("job")
		if err != nil {
			t.Fatal(err)
		}
		p := 0
		for _, v := range g.Vertices {
			p = max(p, v.Parallelism)
		}
		return p
	}

	env := NewEnv()
	if p := maxParallelism(env); p != 3 {
		t.Errorf("parallelism %d, want the cluster's 3", p)
	}
	if err := env.clusterDefaults(); err != nil {
		t.Fatal(err)
	}
	if env.cfg.bufferTimeout != 5*time.Millisecond {
		t.Errorf("buffer timeout %s, want the cluster's 5ms", env.cfg.bufferTimeout)
	}
	if b := env.cfg.stateBackend; b.Kind != statebackend.KindPebble || !b.Pebble.Incremental {
		t.Errorf("state backend %+v, want the cluster's incremental pebble", b)
	}

	own := NewEnv(WithParallelism(2), WithBufferTimeout(time.Second), WithStateBackend(HeapBackend()))
	if p := maxParallelism(own); p != 2 {
		t.Errorf("parallelism %d, want the program's 2", p)
	}
	if err := own.clusterDefaults(); err != nil {
		t.Fatal(err)
	}
	if own.cfg.bufferTimeout != time.Second || own.cfg.stateBackend.Kind != statebackend.KindHeap {
		t.Errorf("buffer timeout %s and state backend %q, want the program's 1s and heap", own.cfg.bufferTimeout, own.cfg.stateBackend.Kind)
	}

	// A submission's parallelism is over the cluster's default.
	t.Setenv(cluster.EnvParallelism, "4")
	if p := maxParallelism(NewEnv()); p != 4 {
		t.Errorf("parallelism %d, want the submission's 4", p)
	}
	t.Setenv("FRESHET_STATE_BACKEND_TYPE", "rocksdb")
	if err := NewEnv().clusterDefaults(); err == nil {
		t.Error("a bad state.backend.type passed")
	}
}
