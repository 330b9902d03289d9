package freshet

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/freshet-io/freshet/internal/rest"
)

// WithREST serves the REST API and /metrics of the environment's jobs on
// addr (Flink's local environment with its web UI), such as ":8081" (the
// cluster's default) or "127.0.0.1:0" for any free port. The server starts
// with the first job executed and serves every job of the Env, ended ones
// too, until Close. docs/rest.md describes the API; the freshet command's
// list, info, cancel, savepoint, stop and checkpoints talk to it.
// Uploaded artifacts are kept in a temporary directory removed by Close;
// running them needs a cluster.
func WithREST(addr string) Option {
	return func(c *config) error {
		if addr == "" {
			return errors.New("REST address is empty")
		}
		c.restAddr = addr
		return nil
	}
}

// restState is the Env's REST server, started by the first execution.
type restState struct {
	sync.Mutex
	d         *rest.Embedded
	s         *rest.Server
	addr      string
	artifacts string
}

// startREST starts the Env's REST server, once.
func (e *Env) startREST() (*rest.Embedded, error) {
	e.rest.Lock()
	defer e.rest.Unlock()
	if e.rest.d != nil {
		return e.rest.d, nil
	}
	dir, err := os.MkdirTemp("", "freshet-artifacts-")
	if err != nil {
		return nil, fmt.Errorf("making the artifact directory: %w", err)
	}
	d := rest.NewEmbedded("")
	s := rest.NewServer(d, rest.Config{ArtifactDir: dir, Logger: e.cfg.logger})
	addr, err := s.Serve(e.cfg.restAddr)
	if err != nil {
		d.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	e.rest.d, e.rest.s, e.rest.addr, e.rest.artifacts = d, s, addr, dir
	return d, nil
}

// RESTAddress is the address the REST API listens on (see WithREST), ""
// before the first execution or without WithREST.
func (e *Env) RESTAddress() string {
	e.rest.Lock()
	defer e.rest.Unlock()
	return e.rest.addr
}

// Close stops the REST server of an Env configured WithREST; the Env's
// jobs are not affected. It is a no-op otherwise.
func (e *Env) Close() error {
	e.rest.Lock()
	defer e.rest.Unlock()
	if e.rest.s == nil {
		return nil
	}
	err := e.rest.s.Close()
	e.rest.d.Close()
	_ = os.RemoveAll(e.rest.artifacts)
	e.rest.d, e.rest.s, e.rest.addr = nil, nil, ""
	return err
}
