package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/config"
	"github.com/freshet-io/freshet/internal/rest"
)

// configFlags are the flags of the commands that read the configuration.
type configFlags struct {
	file  string
	props []string
}

func (f *configFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "config", "c", "", "a YAML configuration file (Flink-like keys, see docs/deployment.md)")
	cmd.Flags().StringArrayVarP(&f.props, "property", "D", nil, "a configuration key=value, over the file and the environment (repeatable)")
}

func (f *configFlags) load() (*config.Config, error) {
	cfg, err := config.Load(f.file, f.props)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return cfg, nil
}

func processLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// readyPrefix starts the line a JobManager process prints on its standard
// output once it serves.
const readyPrefix = "freshet jobmanager ready:"

func newJobManagerCmd() *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "jobmanager",
		Short: "Run a JobManager: the dispatcher with the REST API, and the resource manager",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			return cluster.RunJobManager(cmd.Context(), cfg, processLogger(), func(a cluster.JobManagerAddrs) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s rest=http://%s rpc=%s\n", readyPrefix, a.REST, a.RPC)
			})
		},
	}
	cf.add(cmd)
	return cmd
}

func newTaskManagerCmd() *cobra.Command {
	var cf configFlags
	var tc cluster.TaskManagerConfig
	var slots int
	cmd := &cobra.Command{
		Use:   "taskmanager",
		Short: "Run a TaskManager that offers its slots to a JobManager",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			if slots > 0 {
				cfg.Slots = slots
			} else if slots < 0 {
				return usageErr("--slots must be at least 1, got %d", slots)
			}
			if tc.JobManager == "" {
				tc.JobManager = fmt.Sprintf("%s:%d", cfg.RPCAddress, cfg.RPCPort)
			}
			return cluster.RunTaskManager(cmd.Context(), cfg, tc, processLogger())
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&tc.JobManager, "jobmanager", "", "the JobManager's RPC address, host:port (default jobmanager.rpc.address:jobmanager.rpc.port)")
	cmd.Flags().IntVar(&slots, "slots", 0, "the slots it offers (default taskmanager.numberOfTaskSlots)")
	cmd.Flags().StringVar(&tc.ID, "id", "", "its id (default host name and process id)")
	cmd.Flags().StringVar(&tc.Host, "host", "127.0.0.1", "the address it and its workers listen on and are reached at")
	cmd.Flags().IntVar(&tc.MetricsPort, "metrics-port", 0, "the port of its Prometheus /metrics, on --host (0: a free port, logged; -1: none)")
	return cmd
}

func newRunCmd(o *apiOptions) *cobra.Command {
	var detached bool
	var parallelism int
	var savepoint string
	cmd := &cobra.Command{
		Use:   "run [flags] PROGRAM [ARGS...]",
		Short: "Submit a job: upload its program to the cluster and run it",
		Long: "Submit a job: upload its program (a Go binary built for the cluster's machines) to the cluster and run it,\n" +
			"then wait for it to end unless --detached. Flags after PROGRAM are the program's.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageErr("run needs the program to submit")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if parallelism < 0 {
				return usageErr("--parallelism must be at least 1, got %d", parallelism)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			artifact, err := c.upload(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b, err := c.do(cmd.Context(), http.MethodPost, "/jars/"+artifact+"/run",
				rest.RunRequest{Args: args[1:], Parallelism: parallelism, SavepointPath: savepoint})
			if err != nil {
				return err
			}
			var rr rest.RunResponse
			if err := json.Unmarshal(b, &rr); err != nil {
				return &exitError{code: exitServer, err: fmt.Errorf("decoding the run answer: %w", err)}
			}
			if c.json {
				if err := printJSON(cmd, b); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Job has been submitted with JobID %s\n", rr.JobID)
			}
			if detached {
				return nil
			}
			return c.waitJob(cmd, rr.JobID)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&detached, "detached", "d", false, "return once the job runs")
	cmd.Flags().IntVarP(&parallelism, "parallelism", "p", 0, "the job's default parallelism (operators that set none)")
	cmd.Flags().StringVarP(&savepoint, "from-savepoint", "s", "", "start the job from this savepoint (or retained checkpoint)")
	return cmd
}

// upload sends the program to the cluster and returns its artifact id.
func (c *client) upload(ctx context.Context, path string) (string, error) {
	rc := &rest.Client{Base: c.base, HTTP: c.http}
	id, err := rc.Upload(ctx, path)
	var connect *rest.ConnectError
	var server *rest.Error
	switch {
	case err == nil:
		return id, nil
	case errors.As(err, &connect):
		return "", &exitError{code: exitConnect, err: err}
	case errors.As(err, &server):
		return "", &exitError{code: exitServer, err: fmt.Errorf("%s (%s)", server.Message, server.Code)}
	default:
		return "", usageErr("%v", err)
	}
}

// waitJob polls the job until it ends; a job that did not finish is an
// error (exit code 1).
func (c *client) waitJob(cmd *cobra.Command, id string) error {
	p, err := jobPath(id)
	if err != nil {
		return err
	}
	for {
		b, err := c.do(cmd.Context(), http.MethodGet, p, nil)
		if err != nil {
			return err
		}
		var d struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return &exitError{code: exitServer, err: fmt.Errorf("decoding job %s: %w", id, err)}
		}
		switch d.State {
		case "FINISHED":
			fmt.Fprintf(cmd.OutOrStdout(), "Job %s finished\n", id)
			return nil
		case "CANCELED", "FAILED":
			var ex rest.Exceptions
			msg := ""
			if b, err := c.do(cmd.Context(), http.MethodGet, p+"/exceptions", nil); err == nil && json.Unmarshal(b, &ex) == nil && ex.RootException != "" {
				msg = ": " + ex.RootException
			}
			return &exitError{code: exitServer, err: fmt.Errorf("job %s %s%s", id, strings.ToLower(d.State), msg)}
		}
		select {
		case <-time.After(pollInterval):
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		}
	}
}

// newClusterCmd is freshet cluster start|stop: a standalone cluster of
// background processes on this machine, like Flink's start-cluster.sh.
func newClusterCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{Use: "cluster", Short: "Start or stop a standalone cluster on this machine", Args: cobra.NoArgs}
	c.PersistentFlags().StringVar(&dir, "dir", filepath.Join(os.TempDir(), "freshet-cluster"), "where the cluster's logs and process ids are kept")
	var cf configFlags
	var tms int
	start := &cobra.Command{
		Use:   "start",
		Short: "Start a JobManager and TaskManagers in the background",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tms < 1 {
				return usageErr("--taskmanagers must be at least 1, got %d", tms)
			}
			if _, err := cf.load(); err != nil {
				return err
			}
			return startCluster(cmd, dir, cf, tms)
		},
	}
	cf.add(start)
	start.Flags().IntVarP(&tms, "taskmanagers", "n", 1, "how many TaskManagers to start")
	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the cluster started with cluster start",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return stopCluster(cmd, dir) },
	}
	c.AddCommand(start, stop)
	return c
}

const pidFile = "cluster.pids"

func startCluster(cmd *cobra.Command, dir string, cf configFlags, tms int) error {
	if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return &exitError{code: exitServer, err: fmt.Errorf("a cluster runs already (%s); stop it first with: freshet cluster stop --dir %s", filepath.Join(dir, pidFile), dir)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var common []string
	if cf.file != "" {
		abs, _ := filepath.Abs(cf.file)
		common = append(common, "--config", abs)
	}
	for _, p := range cf.props {
		common = append(common, "-D", p)
	}
	var pids []string
	spawn := func(name string, args ...string) (*os.File, error) {
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return nil, err
		}
		p := exec.Command(self, args...)
		p.Stdout, p.Stderr = log, log
		p.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := p.Start(); err != nil {
			log.Close()
			return nil, fmt.Errorf("starting the %s: %w", name, err)
		}
		pids = append(pids, strconv.Itoa(p.Process.Pid))
		if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strings.Join(pids, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		go func() { _ = p.Wait() }()
		return log, nil
	}
	jmLog, err := spawn("jobmanager", append([]string{"jobmanager"}, common...)...)
	if err != nil {
		return err
	}
	jmLog.Close()
	restURL, rpcAddr, err := waitReady(cmd.Context(), filepath.Join(dir, "jobmanager.log"), 60*time.Second)
	if err != nil {
		_ = stopCluster(cmd, dir)
		return &exitError{code: exitServer, err: err}
	}
	for i := range tms {
		l, err := spawn(fmt.Sprintf("taskmanager-%d", i), append([]string{"taskmanager", "--jobmanager", rpcAddr, "--id", fmt.Sprintf("taskmanager-%d", i)}, common...)...)
		if err != nil {
			_ = stopCluster(cmd, dir)
			return err
		}
		l.Close()
	}
	// Wait until every TaskManager registered.
	c := &client{base: restURL, http: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ov rest.Overview
		b, err := c.do(cmd.Context(), http.MethodGet, "/overview", nil)
		if err == nil && json.Unmarshal(b, &ov) == nil && ov.TaskManagers >= tms {
			break
		}
		if time.Now().After(deadline) {
			_ = stopCluster(cmd, dir)
			return &exitError{code: exitServer, err: fmt.Errorf("the TaskManagers did not register within a minute; see the logs in %s", dir)}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Cluster started: REST API at %s, RPC at %s, %d TaskManager(s); logs in %s\n", restURL, rpcAddr, tms, dir)
	return nil
}

// waitReady waits for the JobManager's ready line in its log.
func waitReady(ctx context.Context, log string, timeout time.Duration) (restURL, rpcAddr string, err error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(log); err == nil {
			s := bufio.NewScanner(f)
			for s.Scan() {
				line, ok := strings.CutPrefix(s.Text(), readyPrefix)
				if !ok {
					continue
				}
				for _, kv := range strings.Fields(line) {
					if v, ok := strings.CutPrefix(kv, "rest="); ok {
						restURL = v
					} else if v, ok := strings.CutPrefix(kv, "rpc="); ok {
						rpcAddr = v
					}
				}
			}
			f.Close()
			if restURL != "" && rpcAddr != "" {
				return restURL, rpcAddr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(log)
	return "", "", fmt.Errorf("the JobManager did not start within %s; its log %s ends:\n%s", timeout, log, tail(b, 2048))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func stopCluster(cmd *cobra.Command, dir string) error {
	path := filepath.Join(dir, pidFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &exitError{code: exitServer, err: fmt.Errorf("no cluster runs from %s", dir)}
	}
	if err != nil {
		return err
	}
	var procs []*os.Process
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
			procs = append(procs, p)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range procs {
		for p.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = p.Kill()
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Cluster stopped (%d processes)\n", len(procs))
	return nil
}
