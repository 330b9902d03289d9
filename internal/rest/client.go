package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client calls a cluster's REST API: what a program submitting itself
// needs, and the CLI's uploads.
type Client struct {
	// Base is the API's URL, such as http://127.0.0.1:8081.
	Base string
	HTTP *http.Client
}

// NewClient returns a client of the API at address: a URL, or host:port
// for http.
func NewClient(address string) *Client {
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	return &Client{Base: strings.TrimRight(address, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// ConnectError is the error of a request that did not reach the API or
// whose answer could not be read.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot reach the REST API at %s: %v", e.URL, e.Err)
}
func (e *ConnectError) Unwrap() error { return e.Err }

// answer reads a response: its body, or an *Error with the server's code.
func (c *Client) answer(resp *http.Response, what string) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &ConnectError{URL: c.Base, Err: err}
	}
	if resp.StatusCode >= 300 {
		var e ErrorBody
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			msg := strings.Join(e.Errors, "; ")
			if what != "" {
				msg = what + ": " + msg
			}
			return nil, &Error{Code: e.Code, Message: msg}
		}
		return nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("%s %s: HTTP %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)}
	}
	return b, nil
}

// Do sends a request with a JSON body (nil for none) and decodes the
// answer into out (nil to drop it).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &ConnectError{URL: c.Base, Err: err}
	}
	// The server's message says what failed, as the caller asked.
	b, err := c.answer(resp, "")
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// ErrNotExecutable is wrapped by Upload's error for a path that is not
// an executable file.
var ErrNotExecutable = errors.New("not an executable file")

// Upload sends the program at path and returns its artifact id.
func (c *Client) Upload(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("the program: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("the program %s: %w", path, ErrNotExecutable)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("jarfile", filepath.Base(path))
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/jars/upload", pr)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	hc := *c.HTTP
	hc.Timeout = 10 * time.Minute
	resp, err := hc.Do(req)
	if err != nil {
		return "", &ConnectError{URL: c.Base, Err: err}
	}
	b, err := c.answer(resp, "uploading "+path)
	if err != nil {
		return "", err
	}
	var ur UploadResponse
	if err := json.Unmarshal(b, &ur); err != nil {
		return "", fmt.Errorf("decoding the upload's answer: %w", err)
	}
	return ur.Artifact.ID, nil
}

// Run runs an uploaded artifact and returns the job's id.
func (c *Client) Run(ctx context.Context, artifact string, req RunRequest) (string, error) {
	var rr RunResponse
	err := c.Do(ctx, http.MethodPost, "/jars/"+artifact+"/run", req, &rr)
	return rr.JobID, err
}

// Job returns the job's details (GET /jobs/:jobid).
func (c *Client) Job(ctx context.Context, job string) (JobDetails, error) {
	var d JobDetails
	err := c.Do(ctx, http.MethodGet, "/jobs/"+job, nil, &d)
	return d, err
}

// Checkpoints returns the job's checkpoint statistics.
func (c *Client) Checkpoints(ctx context.Context, job string) (Checkpoints, error) {
	var cp Checkpoints
	err := c.Do(ctx, http.MethodGet, "/jobs/"+job+"/checkpoints", nil, &cp)
	return cp, err
}

// Exceptions returns the job's failures.
func (c *Client) Exceptions(ctx context.Context, job string) (Exceptions, error) {
	var ex Exceptions
	err := c.Do(ctx, http.MethodGet, "/jobs/"+job+"/exceptions", nil, &ex)
	return ex, err
}

// Cancel asks the job to stop.
func (c *Client) Cancel(ctx context.Context, job string) error {
	return c.Do(ctx, http.MethodPatch, "/jobs/"+job+"?mode=cancel", nil, nil)
}

// TriggerSavepoint starts a savepoint of the job into req's directory —
// with req.Stop, a stop with a savepoint — and returns its trigger id.
func (c *Client) TriggerSavepoint(ctx context.Context, job string, req SavepointRequest) (string, error) {
	path, body := "/jobs/"+job+"/savepoints", any(req)
	if req.Stop {
		// The stop request names its fields as Flink's does.
		path, body = "/jobs/"+job+"/stop", map[string]any{"targetDirectory": req.TargetDirectory, "drain": req.Drain}
	}
	var tr TriggerResponse
	err := c.Do(ctx, http.MethodPost, path, body, &tr)
	return tr.RequestID, err
}

// SavepointStatus returns the state of a savepoint trigger.
func (c *Client) SavepointStatus(ctx context.Context, job, trigger string) (SavepointStatus, error) {
	var st SavepointStatus
	err := c.Do(ctx, http.MethodGet, "/jobs/"+job+"/savepoints/"+trigger, nil, &st)
	return st, err
}
