// Package storage keeps a job's checkpoints in a blob bucket: a local
// directory by default, or any store gocloud.dev/blob opens (memory, S3, GCS,
// Azure), so the runtime never depends on one.
//
// A checkpoint is a folder of state files, one per operator, subtask and
// key-group range, each streamed in and recorded with its size and CRC-32C,
// and a metadata file that lists them. The metadata is written last, through
// a temporary name, so a checkpoint whose metadata exists is whole and one
// without it is never used:
//
//	<job>/chk-<id>/<state files>
//	<job>/chk-<id>/_metadata
//
// [Storage.Latest] returns the newest completed checkpoint whose metadata and
// files all check out, reporting every newer one it had to skip and why.
// docs/checkpoint-format.md describes the layout and the metadata format.
//
// The job master begins and completes checkpoints through it, and each
// subtask writes its state files through its own Pending of the same id.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // mem:// URLs
	"gocloud.dev/gcerrors"
)

var (
	// ErrNoCheckpoint is returned by Latest when no completed checkpoint
	// can be used.
	ErrNoCheckpoint = errors.New("freshet: no completed checkpoint")
	// ErrCorrupt marks a state file or metadata whose contents do not
	// match what was recorded: a wrong checksum or size, or metadata that
	// does not decode.
	ErrCorrupt = errors.New("freshet: corrupt checkpoint")
	// ErrUnsupportedVersion marks metadata written in a format version
	// this build cannot read.
	ErrUnsupportedVersion = errors.New("freshet: unsupported checkpoint format version")
	// ErrMissingFile marks a state file that the metadata (or a
	// completion) names but the store does not hold.
	ErrMissingFile = errors.New("freshet: checkpoint state file missing")
	// ErrCheckpointExists is returned when beginning or completing a
	// checkpoint whose id has already completed.
	ErrCheckpointExists = errors.New("freshet: checkpoint already completed")
	// ErrSubsumed is returned when completing a checkpoint older than one
	// that has already completed; as in Flink, the older one is discarded.
	ErrSubsumed = errors.New("freshet: checkpoint subsumed by a newer completed checkpoint")
	// ErrDuplicatePart is returned when a checkpoint is given two files
	// for the same operator, subtask and key-group range.
	ErrDuplicatePart = errors.New("freshet: state written twice for one part of a checkpoint")
	// ErrCheckpointDone is returned when a pending checkpoint or a file
	// writer is used after it completed or was aborted.
	ErrCheckpointDone = errors.New("freshet: checkpoint already completed or aborted")
	// ErrPruning wraps a failure to delete old checkpoints after a
	// successful completion: the new checkpoint stands, and the caller
	// should only warn.
	ErrPruning = errors.New("freshet: deleting old checkpoints")
	// ErrInvalidOption is returned for a bad option or job id.
	ErrInvalidOption = errors.New("freshet: invalid checkpoint storage option")
)

// KeyGroupRange is an inclusive range of key groups. A range whose End is
// below its Start holds none: NoKeyGroups, for operator (non-keyed) state.
type KeyGroupRange struct{ Start, End int }

// NoKeyGroups is the range of state that is not keyed.
var NoKeyGroups = KeyGroupRange{Start: 0, End: -1}

// Empty reports whether r holds no key group.
func (r KeyGroupRange) Empty() bool { return r.End < r.Start }

func (r KeyGroupRange) String() string {
	if r.Empty() {
		return "[]"
	}
	return fmt.Sprintf("[%d, %d]", r.Start, r.End)
}

// Part names what a state file holds: one operator's state in one subtask,
// for one key-group range (NoKeyGroups for operator state).
type Part struct {
	Operator  string // the operator's id
	Subtask   int    // from 0
	KeyGroups KeyGroupRange
}

func (p Part) String() string {
	return fmt.Sprintf("%s (subtask %d, key groups %s)", p.Operator, p.Subtask, p.KeyGroups)
}

// File describes one stored state file. It is plain data, so a TaskManager
// can send it to whoever completes the checkpoint.
type File struct {
	Name   string // the object's name inside its checkpoint's folder, or the shared folder
	Part   Part
	Size   int64
	CRC32C uint32 // CRC-32C (Castagnoli) of the whole file
	// Shared marks a file of the job's shared folder (<job>/shared/<name>),
	// which every checkpoint that lists it refers to: an incremental
	// checkpoint's database files. It is deleted when the last retained
	// checkpoint that lists it is.
	Shared bool
}

// Checkpoint is a completed checkpoint as its metadata records it.
type Checkpoint struct {
	ID         uint64
	JobID      string
	Timestamp  time.Time // as given to Complete, to the millisecond, in UTC
	Properties map[string][]byte
	Files      []File // sorted by name
}

// Metadata is what the caller adds to a checkpoint when completing it.
type Metadata struct {
	// Timestamp is the checkpoint's time (Flink records when it was
	// triggered). It is stored to the millisecond.
	Timestamp time.Time
	// Properties are opaque values for the caller, such as source
	// positions or the plan's fingerprint.
	Properties map[string][]byte
}

// Skipped tells why Latest passed over a completed checkpoint.
type Skipped struct {
	ID   uint64
	File string // the state file at fault, or "" for the metadata itself
	Err  error  // names the checkpoint and file; matches ErrCorrupt, ErrMissingFile, ErrUnsupportedVersion or a storage error
}

// Retention says what happens to completed checkpoints when the job ends;
// the values are Flink's ExternalizedCheckpointRetention.
type Retention int

const (
	// NoExternalizedCheckpoints deletes every checkpoint when the job
	// finishes, is cancelled or fails (Flink's default).
	NoExternalizedCheckpoints Retention = iota
	// DeleteOnCancellation keeps the checkpoints of a failed job and
	// deletes them when it finishes or is cancelled.
	DeleteOnCancellation
	// RetainOnCancellation keeps the checkpoints of a cancelled or failed
	// job, so it can be resumed from one later.
	RetainOnCancellation
)

func (r Retention) String() string {
	switch r {
	case NoExternalizedCheckpoints:
		return "NO_EXTERNALIZED_CHECKPOINTS"
	case DeleteOnCancellation:
		return "DELETE_ON_CANCELLATION"
	case RetainOnCancellation:
		return "RETAIN_ON_CANCELLATION"
	}
	return "Retention(" + strconv.Itoa(int(r)) + ")"
}

// JobStatus is how a job ended, for Shutdown.
type JobStatus int

const (
	// Finished: the job ended by itself; its checkpoints are deleted.
	Finished JobStatus = iota
	// Cancelled: the job was cancelled.
	Cancelled
	// Failed: the job failed for good (its restart strategy gave up).
	Failed
	// Suspended: this JobManager lost leadership; another will recover
	// the job, so nothing is deleted.
	Suspended
)

// DefaultRetained is how many completed checkpoints are kept by default,
// as Flink's state.checkpoints.num-retained. Falling back past a corrupt
// checkpoint needs at least 2.
const DefaultRetained = 1

type config struct {
	retained  int
	retention Retention
}

// Option configures a Storage.
type Option func(*config)

// WithRetained keeps the newest n completed checkpoints (at least 1);
// older ones are deleted when a checkpoint completes.
func WithRetained(n int) Option { return func(c *config) { c.retained = n } }

// WithRetention sets what Shutdown keeps.
func WithRetention(r Retention) Option { return func(c *config) { c.retention = r } }

func (c *config) validate() error {
	if c.retained < 1 {
		return fmt.Errorf("retained checkpoints %d, want at least 1: %w", c.retained, ErrInvalidOption)
	}
	if c.retention < NoExternalizedCheckpoints || c.retention > RetainOnCancellation {
		return fmt.Errorf("retention %v: %w", c.retention, ErrInvalidOption)
	}
	return nil
}

const (
	metadataName = "_metadata"
	metadataTemp = "_metadata.inprogress"
	chkPrefix    = "chk-"
	sharedDir    = "shared"
)

// Storage is one job's checkpoint storage. Its methods may be called from
// any goroutine.
type Storage struct {
	bucket *blob.Bucket
	owned  bool   // Close closes the bucket
	dir    string // the local directory behind the bucket, if any
	// location is what Open was given, to open the storage again
	// elsewhere; "" for OpenBucket's.
	location string
	job      string
	cfg      config

	mu struct {
		sync.Mutex
		pending map[uint64]int // checkpoints begun here and not yet completed, aborted or released
	}
}

// Open opens the checkpoint storage of job at location: a bucket URL
// (file:///path, mem://, or s3://… and others whose driver the program
// imports) or a local directory, created if missing.
func Open(ctx context.Context, location, job string, opts ...Option) (*Storage, error) {
	var (
		b   *blob.Bucket
		dir string
		err error
	)
	if strings.Contains(location, "://") {
		b, err = blob.OpenBucket(ctx, location)
	} else {
		if location == "" {
			return nil, fmt.Errorf("empty checkpoint location: %w", ErrInvalidOption)
		}
		dir = location
		b, err = fileblob.OpenBucket(location, &fileblob.Options{
			CreateDir: true,
			NoTempDir: true, // rename within the directory's file system
			Metadata:  fileblob.MetadataDontWrite,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("opening checkpoint storage %s: %w", location, err)
	}
	s, err := newStorage(b, job, opts)
	if err != nil {
		b.Close()
		return nil, err
	}
	s.owned, s.dir, s.location = true, dir, location
	return s, nil
}

// Location is the location the storage was opened at (a directory or a
// bucket URL), with Job enough for another process to open it again; ""
// for a storage made with OpenBucket.
func (s *Storage) Location() string { return s.location }

// Job is the job's folder in the storage.
func (s *Storage) Job() string { return s.job }

// OpenBucket uses an open bucket for job's checkpoints. Close leaves the
// bucket open.
func OpenBucket(b *blob.Bucket, job string, opts ...Option) (*Storage, error) {
	return newStorage(b, job, opts)
}

func newStorage(b *blob.Bucket, job string, opts []Option) (*Storage, error) {
	cfg := config{retained: DefaultRetained, retention: NoExternalizedCheckpoints}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := validJobID(job); err != nil {
		return nil, err
	}
	s := &Storage{bucket: b, job: job, cfg: cfg}
	s.mu.pending = make(map[uint64]int)
	return s, nil
}

func validJobID(job string) error {
	ok := job != "" && len(job) <= 128 && job != "." && job != ".."
	for _, r := range job {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("job id %q (want 1 to 128 letters, digits, '-', '_' or '.'): %w", job, ErrInvalidOption)
	}
	return nil
}

// Close closes the bucket if Open opened it.
func (s *Storage) Close() error {
	if !s.owned {
		return nil
	}
	return s.bucket.Close()
}

func (s *Storage) chkDir(id uint64) string {
	return s.job + "/" + chkPrefix + strconv.FormatUint(id, 10) + "/"
}

func (s *Storage) key(id uint64, name string) string { return s.chkDir(id) + name }

func (s *Storage) sharedKey(name string) string { return s.job + "/" + sharedDir + "/" + name }

// objectKey is where file f of checkpoint id is stored.
func (s *Storage) objectKey(id uint64, f File) string {
	if f.Shared {
		return s.sharedKey(f.Name)
	}
	return s.key(id, f.Name)
}

// stored is what a listing found of one checkpoint.
type stored struct {
	id       uint64
	complete bool     // its metadata exists
	keys     []string // every object under its folder
}

// scan lists the job's checkpoints, newest first.
func (s *Storage) scan(ctx context.Context) ([]*stored, error) {
	byID := make(map[uint64]*stored)
	it := s.bucket.List(&blob.ListOptions{Prefix: s.job + "/"})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("listing checkpoints of job %s: %w", s.job, err)
		}
		if obj.IsDir {
			continue
		}
		rest := strings.TrimPrefix(obj.Key, s.job+"/")
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasPrefix(dir, chkPrefix) {
			continue
		}
		id, err := strconv.ParseUint(dir[len(chkPrefix):], 10, 64)
		if err != nil || strconv.FormatUint(id, 10) != dir[len(chkPrefix):] {
			continue
		}
		st := byID[id]
		if st == nil {
			st = &stored{id: id}
			byID[id] = st
		}
		st.keys = append(st.keys, obj.Key)
		if name == metadataName {
			st.complete = true
		}
	}
	out := make([]*stored, 0, len(byID))
	for _, st := range byID {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *stored) int {
		switch {
		case a.id > b.id:
			return -1
		case a.id < b.id:
			return 1
		}
		return 0
	})
	return out, nil
}

// Completed returns the ids of the checkpoints whose metadata exists,
// newest first, without checking them.
func (s *Storage) Completed(ctx context.Context) ([]uint64, error) {
	all, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, st := range all {
		if st.complete {
			ids = append(ids, st.id)
		}
	}
	return ids, nil
}

// deleteCheckpoint deletes the objects of one checkpoint, its metadata
// first, so a half-deleted checkpoint is never taken for a completed one.
func (s *Storage) deleteCheckpoint(ctx context.Context, st *stored) error {
	keys := slices.Clone(st.keys)
	meta := s.key(st.id, metadataName)
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case a == meta:
			return -1
		case b == meta:
			return 1
		}
		return 0
	})
	for _, k := range keys {
		if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("deleting checkpoint %d of job %s: %s: %w", st.id, s.job, k, err)
		}
	}
	if s.dir != "" {
		// fileblob leaves the emptied folder; a folder that is not
		// empty (a writer still at work) stays.
		_ = os.Remove(filepath.Join(s.dir, filepath.FromSlash(strings.TrimSuffix(s.chkDir(st.id), "/"))))
	}
	return nil
}

// Prune keeps the newest completed checkpoints (WithRetained) and deletes
// older ones, and deletes incomplete checkpoints older than the newest
// completed one (abandoned or subsumed ones), except those begun through
// this Storage and still pending. Complete calls it.
// A corrupt completed checkpoint counts as completed here.
func (s *Storage) Prune(ctx context.Context) error {
	all, err := s.scan(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	pending := make(map[uint64]bool, len(s.mu.pending))
	for id := range s.mu.pending {
		pending[id] = true
	}
	s.mu.Unlock()

	var errs []error
	kept := 0
	newest, haveNewest := uint64(0), false
	// Shared files listed by deleted checkpoints and by kept ones.
	dropped, inUse := map[string]bool{}, map[string]bool{}
	for _, st := range all { // newest first
		switch {
		case st.complete:
			if !haveNewest {
				newest, haveNewest = st.id, true
			}
			if kept < s.cfg.retained {
				kept++
				if err := s.sharedFiles(ctx, st.id, inUse); err != nil {
					// Without the kept checkpoint's list, no shared
					// file may be deleted.
					return errors.Join(append(errs, err)...)
				}
				continue
			}
			_ = s.sharedFiles(ctx, st.id, dropped) // unreadable: its files stay
		case !haveNewest || st.id > newest || pending[st.id]:
			continue // may still be written
		}
		if err := s.deleteCheckpoint(ctx, st); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range dropped {
		if inUse[name] {
			continue
		}
		if err := s.bucket.Delete(ctx, s.sharedKey(name)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			errs = append(errs, fmt.Errorf("deleting shared file %s of job %s: %w", name, s.job, err))
		}
	}
	return errors.Join(errs...)
}

// sharedFiles adds the names of the shared files completed checkpoint id
// lists to names.
func (s *Storage) sharedFiles(ctx context.Context, id uint64, names map[string]bool) error {
	data, err := s.bucket.ReadAll(ctx, s.key(id, metadataName))
	if err != nil {
		return fmt.Errorf("reading checkpoint %d of job %s: %w", id, s.job, err)
	}
	c, err := decodeMetadata(data)
	if err != nil {
		return fmt.Errorf("reading checkpoint %d of job %s: %w", id, s.job, err)
	}
	for _, f := range c.Files {
		if f.Shared {
			names[f.Name] = true
		}
	}
	return nil
}

// deleteShared deletes the job's shared folder.
func (s *Storage) deleteShared(ctx context.Context) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: s.sharedKey("")})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("listing the shared files of job %s: %w", s.job, err)
		}
		if obj.IsDir {
			continue
		}
		if err := s.bucket.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("deleting shared file %s of job %s: %w", obj.Key, s.job, err)
		}
	}
	if s.dir != "" {
		_ = os.Remove(filepath.Join(s.dir, s.job, sharedDir))
	}
	return nil
}

// Shutdown applies the retention policy when the job ends: it deletes every
// checkpoint of a finished job, of a cancelled one unless
// RetainOnCancellation, of a failed one under NoExternalizedCheckpoints, and
// none of a suspended one. Checkpoints it keeps are still pruned of
// abandoned incomplete ones.
func (s *Storage) Shutdown(ctx context.Context, status JobStatus) error {
	var discard bool
	switch status {
	case Finished:
		discard = true
	case Cancelled:
		discard = s.cfg.retention != RetainOnCancellation
	case Failed:
		discard = s.cfg.retention == NoExternalizedCheckpoints
	case Suspended:
		return nil
	default:
		return fmt.Errorf("job status %d: %w", status, ErrInvalidOption)
	}
	if !discard {
		return s.Prune(ctx)
	}
	all, err := s.scan(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range all {
		if err := s.deleteCheckpoint(ctx, st); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, s.deleteShared(ctx))
	}
	if s.dir != "" && errors.Join(errs...) == nil {
		_ = os.Remove(filepath.Join(s.dir, s.job))
	}
	return errors.Join(errs...)
}
