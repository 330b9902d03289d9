package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/freshet-io/freshet/internal/config"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/rpc"
)

// JobManagerAddrs are where a JobManager process serves.
type JobManagerAddrs struct{ REST, RPC string }

// RunJobManager runs a JobManager process — the dispatcher with the REST
// API and the resource manager — until ctx ends. ready, when set, is
// called with its addresses once it serves.
func RunJobManager(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(JobManagerAddrs)) error {
	if log == nil {
		log = slog.Default()
	}
	artifacts := cfg.ArtifactDir
	if artifacts == "" {
		artifacts = filepath.Join(os.TempDir(), "freshet-artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return fmt.Errorf("making the artifact directory: %w", err)
	}
	hb := rpc.HeartbeatConfig{Interval: cfg.HeartbeatInterval, Timeout: cfg.HeartbeatTimeout}
	rm := NewResourceManager(log, hb.Timeout)
	// The control services listen first: the dispatcher needs their
	// address for the job masters it starts.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.RPCAddress, strconv.Itoa(cfg.RPCPort)))
	if err != nil {
		return fmt.Errorf("listening for RPC (jobmanager.rpc.address %s, jobmanager.rpc.port %d): %w", cfg.RPCAddress, cfg.RPCPort, err)
	}
	rpcAddr := ln.Addr().String()
	d := NewDispatcher(DispatcherConfig{ArtifactDir: artifacts, Control: rpcAddr, Host: hostOf(rpcAddr), Heartbeat: hb, Logger: log, Env: jobMasterEnv(cfg)}, rm)
	defer d.Close()
	_, ctl, err := serveControl(ln, rm, d)
	if err != nil {
		return fmt.Errorf("serving RPC: %w", err)
	}
	defer ctl.Close()
	srv := rest.NewServer(d, rest.Config{ArtifactDir: artifacts, MaxUpload: cfg.UploadMaxSize, Logger: log})
	restAddr, err := srv.Serve(net.JoinHostPort(cfg.RESTAddress, strconv.Itoa(cfg.RESTPort)))
	if err != nil {
		return fmt.Errorf("serving the REST API (rest.address %s, rest.port %d): %w", cfg.RESTAddress, cfg.RESTPort, err)
	}
	defer srv.Close()
	d.cfg.REST = reachable(restAddr, hostOf(rpcAddr))
	log.Info("jobmanager running", slog.String("rest", d.cfg.REST), slog.String("rpc", rpcAddr), slog.String("artifacts", artifacts))
	if ready != nil {
		ready(JobManagerAddrs{REST: d.cfg.REST, RPC: rpcAddr})
	}
	<-ctx.Done()
	log.Info("jobmanager stopping")
	return nil
}

// jobDefaults are the keys of a cluster's defaults for its jobs, which a
// job's program overrides with options of its own.
var jobDefaults = []string{
	"parallelism.default",
	"execution.buffer-timeout",
	"state.backend.type",
	"state.backend.incremental",
	"execution.checkpointing.interval",
	"task.cancellation.timeout",
	"restart-strategy.type",
	"restart-strategy.fixed-delay.attempts",
	"restart-strategy.fixed-delay.delay",
	"restart-strategy.failure-rate.max-failures-per-interval",
	"restart-strategy.failure-rate.failure-rate-interval",
	"restart-strategy.exponential-delay.initial-backoff",
	"restart-strategy.exponential-delay.max-backoff",
}

// jobMasterEnv passes the cluster's job defaults to job masters, as the
// environment variables of their keys (those set other than by default).
func jobMasterEnv(cfg *config.Config) []string {
	var out []string
	if cfg.CheckpointDir != "" {
		out = append(out, EnvCheckpointDir+"="+cfg.CheckpointDir)
	}
	if cfg.SavepointDir != "" {
		out = append(out, "FRESHET_SAVEPOINT_DIR="+cfg.SavepointDir)
	}
	values := map[string]string{}
	for _, kv := range cfg.Effective() {
		values[kv[0]] = kv[1]
	}
	for _, k := range jobDefaults {
		if cfg.Source(k) != "default" {
			out = append(out, config.EnvName(k)+"="+values[k])
		}
	}
	return out
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// reachable turns a listening address on all interfaces into one others
// can dial, on host.
func reachable(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, p)
	}
	return addr
}

// TaskManagerConfig configures a TaskManager process.
type TaskManagerConfig struct {
	// ID names it; "" makes one from the host name and process id.
	ID string
	// JobManager is the JobManager's RPC address.
	JobManager string
	// Host is the address it and its workers listen on and are reached
	// at.
	Host string
	// MetricsPort is the port of its /metrics (Prometheus); 0 picks a
	// free one, negative serves none.
	MetricsPort int
}

// RunTaskManager runs a TaskManager process until ctx ends: it registers
// its slots with the JobManager's resource manager and runs the workers
// of the jobs deployed to it.
func RunTaskManager(ctx context.Context, cfg *config.Config, tc TaskManagerConfig, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if tc.JobManager == "" {
		return fmt.Errorf("no JobManager address")
	}
	if tc.Host == "" {
		tc.Host = "127.0.0.1"
	}
	if tc.ID == "" {
		h, _ := os.Hostname()
		tc.ID = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	cache := filepath.Join(os.TempDir(), "freshet-taskmanager-cache")
	te := NewTaskExecutor(TaskExecutorConfig{ID: tc.ID, Slots: cfg.Slots, Host: tc.Host, CacheDir: cache,
		Heartbeat: rpc.HeartbeatConfig{Interval: cfg.HeartbeatInterval, Timeout: cfg.HeartbeatTimeout}, Logger: log,
		Network: NetworkConfig{DataPort: cfg.DataPort, SegmentSize: cfg.SegmentSize, BuffersPerChannel: cfg.BuffersPerChannel}})
	addr, srv, err := serveTaskExecutor(net.JoinHostPort(tc.Host, "0"), te)
	if err != nil {
		return err
	}
	defer srv.Close()
	te.cfg.Address = addr
	metricsAddr := "none"
	if tc.MetricsPort >= 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(tc.Host, strconv.Itoa(tc.MetricsPort)))
		if err != nil {
			return fmt.Errorf("listening for metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(te, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ms.Serve(ln) }()
		defer ms.Close()
		metricsAddr = ln.Addr().String()
	}
	log.Info("taskmanager running", slog.String("id", tc.ID), slog.String("rpc", addr), slog.Int("slots", cfg.Slots), slog.String("jobmanager", tc.JobManager),
		slog.String("metrics", metricsAddr))
	var ctl *controlClient
	for ctl == nil {
		if ctl, err = dialControl(ctx, tc.JobManager); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("waiting for the JobManager", slog.Any("error", err))
		}
	}
	defer ctl.Close()
	return te.Run(ctx, ctl.rm)
}
