package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/rest"
)

// fakeDispatcher serves fixed answers, so the commands' output is exact.
type fakeDispatcher struct {
	mu     sync.Mutex
	polls  int // savepoint status calls before it completes
	cancel []string
	stop   rest.SavepointRequest
}

var start = time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC).UnixMilli()

func (f *fakeDispatcher) Overview(context.Context) (rest.Overview, error) {
	return rest.Overview{TaskManagers: 2, SlotsTotal: 8, SlotsAvailable: 5, JobsRunning: 1, JobsFinished: 1, Version: "test"}, nil
}

func (f *fakeDispatcher) TaskManagers(context.Context) ([]rest.TaskManager, error) {
	return []rest.TaskManager{{ID: "tm-0", Slots: 4, FreeSlots: 1, HeartbeatAge: 1500}, {ID: "tm-1", Slots: 4, FreeSlots: 4}}, nil
}

func (f *fakeDispatcher) Jobs(context.Context) ([]rest.JobSummary, error) {
	return []rest.JobSummary{
		{ID: "clicks-1", Name: "clicks", State: "RUNNING", StartTime: start, EndTime: -1, Duration: 90_000},
		{ID: "report-2", Name: "daily report", State: "FINISHED", StartTime: start, EndTime: start + 2500, Duration: 2500},
	}, nil
}

func (f *fakeDispatcher) known(id string) error {
	if id != "clicks-1" && id != "report-2" {
		return rest.Errorf(rest.CodeJobNotFound, "no job %s", id)
	}
	return nil
}

func (f *fakeDispatcher) Job(_ context.Context, id string) (rest.JobDetails, error) {
	return rest.JobDetails{ID: id}, f.known(id)
}

func (f *fakeDispatcher) Plan(_ context.Context, id string) (json.RawMessage, error) {
	return json.RawMessage(`{"plan":{"nodes":[{"id":1,"contents":"Clicks","parallelism":2,"chain":1},` +
		`{"id":2,"contents":"Count","parallelism":4,"chain":2,"predecessors":[{"id":1,"ship_strategy":"HASH"}]}]}}`), f.known(id)
}

func (f *fakeDispatcher) Checkpoints(_ context.Context, id string) (rest.Checkpoints, error) {
	return rest.Checkpoints{Counts: rest.Counts{Total: 2, Completed: 1, Failed: 1}, History: []rest.Checkpoint{
		{ID: 2, Status: "FAILED", TriggerTimestamp: start + 20_000, Duration: 10_000},
		{ID: 1, Status: "COMPLETED", IsSavepoint: true, TriggerTimestamp: start + 10_000, Duration: 250, StateSize: 4096, ExternalPath: "/sp/chk-1"},
	}}, f.known(id)
}

func (f *fakeDispatcher) Exceptions(_ context.Context, id string) (rest.Exceptions, error) {
	return rest.Exceptions{}, f.known(id)
}

func (f *fakeDispatcher) Cancel(_ context.Context, id string) error {
	if err := f.known(id); err != nil {
		return err
	}
	if id == "report-2" {
		return rest.Errorf(rest.CodeJobNotRunning, "job report-2 has ended (FINISHED)")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancel = append(f.cancel, id)
	return nil
}

const triggerID = "0123456789abcdef0123456789abcdef"

func (f *fakeDispatcher) TriggerSavepoint(_ context.Context, id string, req rest.SavepointRequest) (string, error) {
	if err := f.known(id); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stop, f.polls = req, 2
	return triggerID, nil
}

func (f *fakeDispatcher) SavepointStatus(_ context.Context, id, trigger string) (rest.SavepointStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st rest.SavepointStatus
	st.Status.ID = rest.SavepointInProgress
	if f.polls--; f.polls <= 0 {
		st.Status.ID = rest.SavepointCompleted
		if f.stop.TargetDirectory == "/bad" {
			st.Operation = &rest.SavepointOperation{FailureCause: &rest.FailureCause{Class: "error", StackTrace: "disk full"}}
		} else {
			st.Operation = &rest.SavepointOperation{Location: f.stop.TargetDirectory + "/savepoint-x/chk-3"}
		}
	}
	return st, nil
}

func (f *fakeDispatcher) RunArtifact(context.Context, string, rest.RunRequest) (string, error) {
	return "", rest.Errorf(rest.CodeNotImplemented, "no")
}

func TestAPICommands(t *testing.T) {
	pollInterval = time.Millisecond
	f := &fakeDispatcher{}
	srv := httptest.NewServer(rest.NewServer(f, rest.Config{}))
	defer srv.Close()
	closed := httptest.NewServer(nil)
	closed.Close()
	addr := "--address=" + srv.URL
	dir := t.TempDir()
	prog, text := filepath.Join(dir, "prog"), filepath.Join(dir, "text")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		args []string
		code int
		out  string // the exact output, or for errors a part of the message
	}{
		{[]string{"list", addr}, 0, "" +
			"JOB       NAME          STATE     STARTED               DURATION\n" +
			"clicks-1  clicks        RUNNING   2026-11-30T01:00:00Z  1m30s\n" +
			"report-2  daily report  FINISHED  2026-11-30T01:00:00Z  2.5s\n"},
		{[]string{"overview", addr}, 0, "" +
			"TASKMANAGERS  SLOTS  FREE  RUNNING  FINISHED  CANCELLED  FAILED\n" +
			"2             8      5     1        1         0          0\n"},
		{[]string{"taskmanagers", addr}, 0, "" +
			"ID    SLOTS  FREE  HEARTBEAT AGE\n" +
			"tm-0  4      1     1.5s\n" +
			"tm-1  4      4     0s\n"},
		{[]string{"info", "clicks-1", addr}, 0, "" +
			"ID  OPERATOR  PARALLELISM  CHAIN  INPUTS\n" +
			"1   Clicks    2            1      -\n" +
			"2   Count     4            2      1 (HASH)\n"},
		{[]string{"checkpoints", "clicks-1", addr}, 0, "" +
			"2 checkpoints: 1 completed, 1 failed, 0 in progress\n" +
			"ID  STATUS     KIND        TRIGGERED             DURATION  SIZE  PATH\n" +
			"2   FAILED     checkpoint  2026-11-30T01:00:20Z  10s       0     -\n" +
			"1   COMPLETED  savepoint   2026-11-30T01:00:10Z  250ms     4096  /sp/chk-1\n"},
		{[]string{"cancel", "clicks-1", addr}, 0, "Cancelling job clicks-1.\n"},
		{[]string{"savepoint", "clicks-1", "/sp", addr}, 0, "Savepoint completed: /sp/savepoint-x/chk-3\n"},
		{[]string{"stop", "--savepoint-path", "/sp", "clicks-1", addr}, 0, "Savepoint completed: /sp/savepoint-x/chk-3\n"},
		{[]string{"overview", addr, "--output", "json"}, 0, "{\n  \"taskmanagers\": 2,\n  \"slots-total\": 8,\n  \"slots-available\": 5,\n" +
			"  \"jobs-running\": 1,\n  \"jobs-finished\": 1,\n  \"jobs-cancelled\": 0,\n  \"jobs-failed\": 0,\n  \"freshet-version\": \"test\"\n}\n"},
		{[]string{"savepoint", "clicks-1", "/sp", addr, "-o", "json"}, 0, "{\n  \"status\": {\n    \"id\": \"COMPLETED\"\n  },\n" +
			"  \"operation\": {\n    \"location\": \"/sp/savepoint-x/chk-3\"\n  }\n}\n"},
		// Server errors: 1.
		{[]string{"info", "nosuch-3", addr}, 1, "no job nosuch-3 (job_not_found, HTTP 404)"},
		{[]string{"cancel", "report-2", addr}, 1, "job report-2 has ended (FINISHED) (job_not_running, HTTP 409)"},
		{[]string{"savepoint", "clicks-1", "/bad", addr}, 1, "savepoint failed: disk full"},
		// Usage errors: 2.
		{[]string{"cancel", addr}, 2, "cancel takes 1 argument(s), got 0"},
		{[]string{"stop", "clicks-1", addr}, 2, "stop needs --savepoint-path"},
		{[]string{"list", addr, "--output", "yaml"}, 2, "--output must be table or json"},
		{[]string{"list", "--address", "ftp://x"}, 2, "--address must be an http(s) URL"},
		{[]string{"list", "--bogus"}, 2, "unknown flag"},
		{[]string{"info", "../etc", addr}, 2, "is not a job id"},
		{[]string{"run", addr}, 2, "run needs the program to submit"},
		{[]string{"run", addr, text}, 2, "not an executable file"},
		{[]string{"run", addr, filepath.Join(dir, "none")}, 2, "no such file"},
		{[]string{"run", addr, "--parallelism", "-1", prog}, 2, "--parallelism must be at least 1"},
		// This server keeps no artifacts.
		{[]string{"run", addr, prog}, 1, "(not_implemented)"},
		// No server: 3.
		{[]string{"list", "--address", closed.URL}, 3, "cannot reach the REST API"},
		{[]string{"run", "--address", closed.URL, prog}, 3, "cannot reach the REST API"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:1], " "), func(t *testing.T) {
			out, err := run(t, c.args...)
			if code := exitCode(err); code != c.code {
				t.Fatalf("%v: exit code %d (%v), want %d\n%s", c.args, code, err, c.code, out)
			}
			if c.code == 0 && out != c.out {
				t.Errorf("%v: output\n%s\nwant\n%s", c.args, out, c.out)
			}
			if c.code != 0 && !strings.Contains(err.Error(), c.out) {
				t.Errorf("%v: error %q, want it to contain %q", c.args, err, c.out)
			}
		})
	}
	if len(f.cancel) != 1 || f.cancel[0] != "clicks-1" {
		t.Errorf("cancelled %v", f.cancel)
	}
}
