package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/freshet-io/freshet/internal/rest"
)

// Exit codes, the same for every command; scripts may rely on them.
const (
	exitOK      = 0 // success
	exitServer  = 1 // the server answered with an error, or an operation failed
	exitUsage   = 2 // wrong arguments or flags
	exitConnect = 3 // the server could not be reached
)

const exitCodesHelp = `Exit codes:
  0  success
  1  the server answered with an error (unknown job, job not running, ...) or the operation failed
  2  usage error: wrong arguments or flags
  3  cannot connect to the REST API`

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode is the exit code of err, a command's error.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		return exitUsage
	}
	return exitServer
}

// apiOptions are the flags every API command shares.
type apiOptions struct {
	address string
	output  string
}

const defaultAddress = "http://127.0.0.1:8081"

// addAPICommands adds the commands that talk to the REST API.
func addAPICommands(root *cobra.Command) {
	o := &apiOptions{}
	def := os.Getenv("FRESHET_ADDRESS")
	if def == "" {
		def = defaultAddress
	}
	root.PersistentFlags().StringVar(&o.address, "address", def, "the REST API's address (env FRESHET_ADDRESS)")
	root.PersistentFlags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })
	root.AddCommand(
		apiCmd(o, "overview", "Show the cluster overview", 0, cmdOverview),
		apiCmd(o, "taskmanagers", "List the TaskManagers", 0, cmdTaskManagers),
		apiCmd(o, "list", "List the jobs", 0, cmdList),
		apiCmd(o, "info JOB", "Show a job's execution plan", 1, cmdInfo),
		apiCmd(o, "cancel JOB", "Cancel a job", 1, cmdCancel),
		apiCmd(o, "checkpoints JOB", "Show a job's checkpoints", 1, cmdCheckpoints),
		newSavepointCmd(o),
		newStopCmd(o),
		newRunCmd(o),
	)
}

// apiCmd returns a command taking exactly nargs arguments.
func apiCmd(o *apiOptions, use, short string, nargs int, run func(*client, *cobra.Command, []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != nargs {
				return usageErr("%s takes %d argument(s), got %d", strings.Fields(use)[0], nargs, len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return run(c, cmd, args)
		},
	}
}

// client talks to the REST API.
type client struct {
	base string
	json bool
	http *http.Client
}

func (o *apiOptions) client() (*client, error) {
	if o.output != "table" && o.output != "json" {
		return nil, usageErr("--output must be table or json, got %q", o.output)
	}
	u, err := url.Parse(o.address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--address must be an http(s) URL, got %q", o.address)
	}
	return &client{base: strings.TrimRight(o.address, "/"), json: o.output == "json", http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do calls the API and returns the answer's body; an error answer is an
// exit code 1 error with the server's message, a failed connection 3.
func (c *client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &exitError{code: exitConnect, err: fmt.Errorf("cannot reach the REST API at %s: %w", c.base, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &exitError{code: exitConnect, err: fmt.Errorf("reading the answer of %s: %w", c.base, err)}
	}
	if resp.StatusCode >= 300 {
		var e rest.ErrorBody
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			return nil, &exitError{code: exitServer, err: fmt.Errorf("%s (%s, HTTP %d)", strings.Join(e.Errors, "; "), e.Code, resp.StatusCode)}
		}
		return nil, &exitError{code: exitServer, err: fmt.Errorf("HTTP %d from %s%s", resp.StatusCode, c.base, path)}
	}
	return b, nil
}

// get calls the API and decodes the answer into v; with --output json it
// also prints the answer.
func (c *client) get(cmd *cobra.Command, path string, v any) error {
	b, err := c.do(cmd.Context(), http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(cmd, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &exitError{code: exitServer, err: fmt.Errorf("decoding the answer of %s: %w", path, err)}
	}
	return nil
}

func printJSON(cmd *cobra.Command, b []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(b), "", "  "); err != nil {
		return &exitError{code: exitServer, err: fmt.Errorf("the server's answer is not JSON: %w", err)}
	}
	out.WriteByte('\n')
	_, err := cmd.OutOrStdout().Write(out.Bytes())
	return err
}

// table writes aligned rows.
func table(cmd *cobra.Command, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func jobPath(id string) (string, error) {
	if !rest.ValidJobID(id) {
		return "", usageErr("%q is not a job id", id)
	}
	return "/jobs/" + id, nil
}

func fmtTime(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func fmtDuration(ms int64) string { return (time.Duration(ms) * time.Millisecond).String() }

func cmdOverview(c *client, cmd *cobra.Command, _ []string) error {
	var o rest.Overview
	if err := c.get(cmd, "/overview", &o); err != nil || c.json {
		return err
	}
	return table(cmd, "TASKMANAGERS\tSLOTS\tFREE\tRUNNING\tFINISHED\tCANCELLED\tFAILED", [][]string{{
		strconv.Itoa(o.TaskManagers), strconv.Itoa(o.SlotsTotal), strconv.Itoa(o.SlotsAvailable),
		strconv.Itoa(o.JobsRunning), strconv.Itoa(o.JobsFinished), strconv.Itoa(o.JobsCancelled), strconv.Itoa(o.JobsFailed)}})
}

func cmdTaskManagers(c *client, cmd *cobra.Command, _ []string) error {
	var tms rest.TaskManagers
	if err := c.get(cmd, "/taskmanagers", &tms); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, tm := range tms.TaskManagers {
		rows = append(rows, []string{tm.ID, strconv.Itoa(tm.Slots), strconv.Itoa(tm.FreeSlots), fmtDuration(tm.HeartbeatAge)})
	}
	return table(cmd, "ID\tSLOTS\tFREE\tHEARTBEAT AGE", rows)
}

func cmdList(c *client, cmd *cobra.Command, _ []string) error {
	var jobs rest.JobsOverview
	if err := c.get(cmd, "/jobs/overview", &jobs); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, j := range jobs.Jobs {
		rows = append(rows, []string{j.ID, j.Name, j.State, fmtTime(j.StartTime), fmtDuration(j.Duration)})
	}
	return table(cmd, "JOB\tNAME\tSTATE\tSTARTED\tDURATION", rows)
}

func cmdInfo(c *client, cmd *cobra.Command, args []string) error {
	p, err := jobPath(args[0])
	if err != nil {
		return err
	}
	var plan struct {
		Plan struct {
			Nodes []struct {
				ID           int    `json:"id"`
				Contents     string `json:"contents"`
				Parallelism  int    `json:"parallelism"`
				Chain        int    `json:"chain"`
				Predecessors []struct {
					ID           int    `json:"id"`
					ShipStrategy string `json:"ship_strategy"`
				} `json:"predecessors"`
			} `json:"nodes"`
		} `json:"plan"`
	}
	if err := c.get(cmd, p+"/plan", &plan); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, n := range plan.Plan.Nodes {
		var in []string
		for _, pr := range n.Predecessors {
			in = append(in, fmt.Sprintf("%d (%s)", pr.ID, pr.ShipStrategy))
		}
		inputs := strings.Join(in, ", ")
		if inputs == "" {
			inputs = "-"
		}
		rows = append(rows, []string{strconv.Itoa(n.ID), n.Contents, strconv.Itoa(n.Parallelism), strconv.Itoa(n.Chain), inputs})
	}
	return table(cmd, "ID\tOPERATOR\tPARALLELISM\tCHAIN\tINPUTS", rows)
}

func cmdCancel(c *client, cmd *cobra.Command, args []string) error {
	p, err := jobPath(args[0])
	if err != nil {
		return err
	}
	b, err := c.do(cmd.Context(), http.MethodPatch, p+"?mode=cancel", nil)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(cmd, b)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Cancelling job %s.\n", args[0])
	return nil
}

func cmdCheckpoints(c *client, cmd *cobra.Command, args []string) error {
	p, err := jobPath(args[0])
	if err != nil {
		return err
	}
	var ck rest.Checkpoints
	if err := c.get(cmd, p+"/checkpoints", &ck); err != nil || c.json {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d checkpoints: %d completed, %d failed, %d in progress\n",
		ck.Counts.Total, ck.Counts.Completed, ck.Counts.Failed, ck.Counts.InProgress)
	var rows [][]string
	for _, h := range ck.History {
		kind := "checkpoint"
		if h.IsSavepoint {
			kind = "savepoint"
		}
		path := h.ExternalPath
		if path == "" {
			path = "-"
		}
		rows = append(rows, []string{strconv.FormatInt(h.ID, 10), h.Status, kind, fmtTime(h.TriggerTimestamp), fmtDuration(h.Duration), strconv.FormatInt(h.StateSize, 10), path})
	}
	return table(cmd, "ID\tSTATUS\tKIND\tTRIGGERED\tDURATION\tSIZE\tPATH", rows)
}

// pollInterval is how often savepoint and stop poll the savepoint.
var pollInterval = 200 * time.Millisecond

func newSavepointCmd(o *apiOptions) *cobra.Command {
	cmd := apiCmd(o, "savepoint JOB [DIR]", "Take a savepoint of a job into DIR and print its path", 0, func(c *client, cmd *cobra.Command, args []string) error {
		req := rest.SavepointRequest{}
		if len(args) == 2 {
			req.TargetDirectory = args[1]
		}
		return savepointAndWait(c, cmd, args[0], "/savepoints", req)
	})
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return usageErr("savepoint takes a job and an optional directory, got %d argument(s)", len(args))
		}
		return nil
	}
	return cmd
}

func newStopCmd(o *apiOptions) *cobra.Command {
	var dir string
	var drain bool
	cmd := apiCmd(o, "stop JOB", "Stop a job with a savepoint and print its path", 1, func(c *client, cmd *cobra.Command, args []string) error {
		if dir == "" {
			return usageErr("stop needs --savepoint-path")
		}
		return savepointAndWait(c, cmd, args[0], "/stop", map[string]any{"targetDirectory": dir, "drain": drain})
	})
	cmd.Flags().StringVarP(&dir, "savepoint-path", "p", "", "the directory of the savepoint (required)")
	cmd.Flags().BoolVarP(&drain, "drain", "d", false, "end event time first (fires every window and timer)")
	return cmd
}

// savepointAndWait triggers a savepoint and polls it until it ends.
func savepointAndWait(c *client, cmd *cobra.Command, job, what string, body any) error {
	p, err := jobPath(job)
	if err != nil {
		return err
	}
	b, err := c.do(cmd.Context(), http.MethodPost, p+what, body)
	if err != nil {
		return err
	}
	var tr rest.TriggerResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		return &exitError{code: exitServer, err: fmt.Errorf("decoding the trigger: %w", err)}
	}
	for {
		b, err := c.do(cmd.Context(), http.MethodGet, p+"/savepoints/"+tr.RequestID, nil)
		if err != nil {
			return err
		}
		var st rest.SavepointStatus
		if err := json.Unmarshal(b, &st); err != nil {
			return &exitError{code: exitServer, err: fmt.Errorf("decoding the savepoint status: %w", err)}
		}
		if st.Status.ID == rest.SavepointCompleted {
			if c.json {
				if err := printJSON(cmd, b); err != nil {
					return err
				}
			}
			if st.Operation != nil && st.Operation.FailureCause != nil {
				return &exitError{code: exitServer, err: fmt.Errorf("savepoint failed: %s", st.Operation.FailureCause.StackTrace)}
			}
			if !c.json {
				fmt.Fprintf(cmd.OutOrStdout(), "Savepoint completed: %s\n", st.Operation.Location)
			}
			return nil
		}
		select {
		case <-time.After(pollInterval):
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		}
	}
}
