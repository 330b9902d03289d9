package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/taskmanager"
)

// RunWorker runs this process as a job's worker in a TaskManager (see
// Role): it registers g, the job graph the program built, under the job's
// id, serves the TaskManager's deployments of the job's subtasks, and
// returns when the TaskManager stops it (or ctx ends). A deployment whose
// graph fingerprint is not g's is refused: the program built another job
// than the one submitted.
func RunWorker(ctx context.Context, g *graph.JobGraph, bufferTimeout time.Duration, log *slog.Logger) (err error) {
	ready := os.NewFile(readyFD, "ready")
	report := func(r workerReady) {
		if ready == nil {
			return
		}
		b, _ := json.Marshal(r)
		_, _ = ready.Write(append(b, '\n'))
		_ = ready.Close()
		ready = nil
	}
	defer func() {
		if err != nil {
			report(workerReady{Error: err.Error()})
		}
	}()
	sub, err := SubmissionFromEnv()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	tmID, jmAddr := os.Getenv(EnvTaskManager), os.Getenv(EnvJobMaster)
	slots, _ := strconv.Atoi(os.Getenv(EnvSlots))
	if tmID == "" || jmAddr == "" || slots < 1 {
		return fmt.Errorf("worker: %s, %s and %s must be set", EnvTaskManager, EnvJobMaster, EnvSlots)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	graphs := graph.NewRegistry()
	fp := g.Fingerprint()
	graphs.Register(string(sub.Job), g, fp)
	jm, jmCloser, err := dialJobMaster(ctx, jmAddr)
	if err != nil {
		return fmt.Errorf("worker: reaching the job master at %s: %w", jmAddr, err)
	}
	defer jmCloser.Close()
	network, err := networkFromEnv()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	data, err := newWorkerData(host(), tmID, bufferTimeout, network)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer data.Close()
	reg := metrics.NewRegistry()
	metricsAddr, metricsSrv, err := serveWorkerMetrics(host(), reg)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer metricsSrv.Close()
	tm := taskmanager.New(taskmanager.Config{ID: tmID, Slots: slots, Logger: log, Graphs: graphs, DataPlane: data, Metrics: reg,
		OnAbandon: func(err error) {
			// A subtask ignored its cancellation: the process ends at
			// once, so that its goroutine does not outlive the attempt
			// and a restart finds no dying worker; the TaskManager
			// process reports the worker's subtasks failed when it sees
			// the exit.
			log.Error("worker exiting: a subtask ignored cancellation", slog.Any("error", err))
			os.Exit(3)
		}}, jm, exchange.NewRegistry())
	defer tm.Close()
	addr, srv, err := serveTaskExecutor(host()+":0", &workerGateway{TaskManager: tm, graph: g, worker: rpc.Worker{DataAddress: data.Address(), MetricsAddress: metricsAddr}})
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer srv.Close()
	report(workerReady{RPC: addr, Data: data.Address(), Metrics: metricsAddr, Fingerprint: fp})
	log.Info("worker running", slog.String("job", string(sub.Job)), slog.String("task_manager", tmID), slog.String("rpc", addr), slog.String("data", data.Address()))
	<-ctx.Done()
	return nil
}

// workerGateway is a worker's TaskManager as its TaskManager process sees
// it.
type workerGateway struct {
	*taskmanager.TaskManager
	worker rpc.Worker
	graph  *graph.JobGraph
	// adopt serialises deployments while the first that restores makes
	// the graph's max parallelisms the checkpoint's, as the job master's.
	adopt struct {
		sync.Mutex
		done bool
	}
}

// SubmitTask implements rpc.TaskManagerGateway.
func (w *workerGateway) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	if d.Restore != nil {
		w.adopt.Lock()
		if !w.adopt.done {
			w.adopt.done = true
			if err := jobmanager.AdoptMaxParallelism(w.graph, d.Restore.Checkpoint.Properties); err != nil {
				w.adopt.Unlock()
				return err
			}
		}
		w.adopt.Unlock()
	}
	return w.TaskManager.SubmitTask(ctx, d)
}

// StartJob implements rpc.TaskExecutorGateway: the worker runs one job.
func (w *workerGateway) StartJob(context.Context, rpc.JobStart) (rpc.Worker, error) {
	return w.worker, nil
}

// Heartbeat implements rpc.TaskExecutorGateway.
func (w *workerGateway) Heartbeat(context.Context, rpc.JobID) error { return nil }

// serveWorkerMetrics serves a worker's metrics over HTTP on host: /metrics
// in Prometheus' format (gathered by its TaskManager's /metrics) and
// /snapshot?job=ID as JSON (read by the job master for the REST API).
func serveWorkerMetrics(host string, reg *metrics.Registry) (string, *http.Server, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", nil, fmt.Errorf("listening for metrics on %s: %w", host, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", rest.TaskManagerMetrics(reg))
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reg.Snapshot(r.URL.Query().Get("job"), time.Now()))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), srv, nil
}
