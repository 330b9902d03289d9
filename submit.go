package freshet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/rest"
)

// EnvJobManager is the environment variable that, like WithJobManager,
// makes Execute submit the program to a cluster.
const EnvJobManager = "FRESHET_JOBMANAGER"

// WithJobManager makes Execute submit the program to the cluster whose
// REST API is at address (a URL, or host:port) rather than run the job
// embedded, as freshet run does: the program's executable is uploaded with
// its arguments, the cluster runs it again as the job's job master and in
// its TaskManagers' workers (where this option is ignored), and Execute
// waits for the job to end, cancelling it if ctx ends first. The program
// must be built for the cluster's machines (see docs/deployment.md). The
// environment variable FRESHET_JOBMANAGER does the same for a program that
// sets no address; "" runs embedded.
func WithJobManager(address string) Option {
	return func(c *config) error {
		c.jobManager = address
		return nil
	}
}

// jobManagerAddress is the cluster Execute submits to, "" for none.
func (e *Env) jobManagerAddress() string {
	if cluster.Role() != "" {
		return "" // this is the cluster running the program
	}
	if e.cfg.jobManager != "" {
		return e.cfg.jobManager
	}
	return os.Getenv(EnvJobManager)
}

// ErrJobNotFinished is wrapped by Execute's error for a job submitted to a
// cluster that failed or was cancelled there.
var ErrJobNotFinished = errors.New("freshet: the job did not finish")

// executeRemote submits the program to the cluster at address and waits
// for its job to end.
func (e *Env) executeRemote(ctx context.Context, address, name string) error {
	// The program's mistakes show here rather than in the cluster.
	if _, err := e.plan(name); err != nil {
		return err
	}
	log := e.cfg.logger
	if log == nil {
		log = slog.Default()
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the program to submit: %w", err)
	}
	c := rest.NewClient(address)
	artifact, err := c.Upload(ctx, self)
	if err != nil {
		return err
	}
	job, err := c.Run(ctx, artifact, rest.RunRequest{Args: os.Args[1:]})
	if err != nil {
		return err
	}
	log.Info("job submitted to the cluster", slog.String("job", job), slog.String("job_name", name), slog.String("jobmanager", c.Base))
	state, cause, err := c.Wait(ctx, job, 500*time.Millisecond)
	if ctx.Err() != nil {
		// Cancelled here: cancel it there, and wait for it to end.
		stop, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if cerr := c.Do(stop, http.MethodPatch, "/jobs/"+job, nil, nil); cerr != nil {
			return fmt.Errorf("%w; cancelling job %s: %w", ctx.Err(), job, cerr)
		}
		_, _, _ = c.Wait(stop, job, 200*time.Millisecond)
		return ctx.Err()
	}
	switch {
	case err != nil:
		return fmt.Errorf("following job %s: %w", job, err)
	case state == "FINISHED":
		return nil
	case cause != "":
		return fmt.Errorf("%w: job %s %s: %s", ErrJobNotFinished, job, state, cause)
	default:
		return fmt.Errorf("%w: job %s %s", ErrJobNotFinished, job, state)
	}
}
