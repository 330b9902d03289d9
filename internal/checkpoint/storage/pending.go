package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Pending is a checkpoint being written. Its methods may be called from any
// goroutine: subtasks create their files concurrently.
//
// In one process the Pending that writes the files also completes the
// checkpoint. Across processes each writer begins the same id on its own
// Storage, sends the Files it committed to the coordinator and Releases its
// Pending; the coordinator Adds them to its own Pending and completes it.
type Pending struct {
	s  *Storage
	id uint64

	mu struct {
		sync.Mutex
		files   map[string]File // by name
		parts   map[Part]string // part → file name
		writers map[*FileWriter]bool
		done    bool
	}
}

// BeginCheckpoint starts checkpoint id. It fails with ErrCheckpointExists
// if that id has already completed.
func (s *Storage) BeginCheckpoint(ctx context.Context, id uint64) (*Pending, error) {
	ok, err := s.bucket.Exists(ctx, s.key(id, metadataName))
	if err != nil {
		return nil, fmt.Errorf("beginning checkpoint %d of job %s: %w", id, s.job, err)
	}
	if ok {
		return nil, fmt.Errorf("beginning checkpoint %d of job %s: %w", id, s.job, ErrCheckpointExists)
	}
	p := &Pending{s: s, id: id}
	p.mu.files = make(map[string]File)
	p.mu.parts = make(map[Part]string)
	p.mu.writers = make(map[*FileWriter]bool)
	s.mu.Lock()
	s.mu.pending[id]++
	s.mu.Unlock()
	return p, nil
}

// ID is the checkpoint's id.
func (p *Pending) ID() uint64 { return p.id }

// finishLocked marks p done and forgets it in its Storage.
func (p *Pending) finishLocked() {
	p.mu.done = true
	s := p.s
	s.mu.Lock()
	if s.mu.pending[p.id]--; s.mu.pending[p.id] <= 0 {
		delete(s.mu.pending, p.id)
	}
	s.mu.Unlock()
}

// claimLocked reserves part for a file, failing on a second claim.
func (p *Pending) claimLocked(part Part, name string) error {
	if p.mu.done {
		return fmt.Errorf("checkpoint %d: %w", p.id, ErrCheckpointDone)
	}
	if prev, ok := p.mu.parts[part]; ok {
		return fmt.Errorf("checkpoint %d: %s already in file %s: %w", p.id, part, prev, ErrDuplicatePart)
	}
	p.mu.parts[part] = name
	return nil
}

// Create starts the state file of part. The caller streams the state into
// the writer and then calls Commit, or Abort to give it up.
func (p *Pending) Create(ctx context.Context, part Part) (*FileWriter, error) {
	name, err := fileName(part)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", p.id, err)
	}
	p.mu.Lock()
	err = p.claimLocked(part, name)
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	bw, err := p.s.bucket.NewWriter(wctx, p.s.key(p.id, name), &blob.WriterOptions{
		ContentType: "application/octet-stream",
	})
	if err != nil {
		cancel()
		p.unclaim(part)
		return nil, fmt.Errorf("creating checkpoint %d file %s: %w", p.id, name, err)
	}
	w := &FileWriter{p: p, part: part, name: name, w: bw, cancel: cancel}
	p.mu.Lock()
	p.mu.writers[w] = true
	p.mu.Unlock()
	return w, nil
}

// CreateShared starts a file of part in the job's shared folder, for state
// that later checkpoints refer to rather than write again (an incremental
// checkpoint's database files). Its name is unique, so any number of them
// may be written for one part; Commit records it with Shared set.
func (p *Pending) CreateShared(ctx context.Context, part Part) (*FileWriter, error) {
	name, err := fileName(part)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", p.id, err)
	}
	p.mu.Lock()
	done := p.mu.done
	p.mu.Unlock()
	if done {
		return nil, fmt.Errorf("checkpoint %d: %w", p.id, ErrCheckpointDone)
	}
	wctx, cancel := context.WithCancel(ctx)
	bw, err := p.s.bucket.NewWriter(wctx, p.s.sharedKey(name), &blob.WriterOptions{
		ContentType: "application/octet-stream",
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating shared file %s for checkpoint %d: %w", name, p.id, err)
	}
	w := &FileWriter{p: p, part: part, name: name, w: bw, cancel: cancel, shared: true}
	p.mu.Lock()
	p.mu.writers[w] = true
	p.mu.Unlock()
	return w, nil
}

func (p *Pending) unclaim(part Part) {
	p.mu.Lock()
	delete(p.mu.parts, part)
	p.mu.Unlock()
}

// Add records files committed through another Storage (another process)
// for this checkpoint.
func (p *Pending) Add(files ...File) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range files {
		if err := validName(f.Name); err != nil {
			return fmt.Errorf("checkpoint %d: %w", p.id, err)
		}
		if prev, ok := p.mu.files[f.Name]; ok {
			if f.Shared && prev == f {
				continue // two subtasks' files may refer to one shared file
			}
			return fmt.Errorf("checkpoint %d: file %s added twice: %w", p.id, f.Name, ErrDuplicatePart)
		}
		if p.mu.done {
			return fmt.Errorf("checkpoint %d: %w", p.id, ErrCheckpointDone)
		}
		if !f.Shared {
			if err := p.claimLocked(f.Part, f.Name); err != nil {
				return err
			}
		}
		p.mu.files[f.Name] = f
	}
	return nil
}

// Files returns the files committed or added so far, sorted by name.
func (p *Pending) Files() []File {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sortedFiles(p.mu.files)
}

func sortedFiles(m map[string]File) []File {
	out := make([]File, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// Release forgets p without completing or deleting it, in a process that
// only wrote files for a checkpoint that another completes.
func (p *Pending) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.done {
		p.finishLocked()
	}
}

// Abort gives up the checkpoint and deletes what was written of it. Files
// still being written fail to commit, and are deleted when they do.
func (p *Pending) Abort(ctx context.Context) error {
	p.mu.Lock()
	if p.mu.done {
		p.mu.Unlock()
		return nil
	}
	for w := range p.mu.writers {
		w.cancel() // safe from any goroutine; the writer's Commit fails
	}
	p.finishLocked()
	p.mu.Unlock()
	return p.deleteAll(ctx)
}

func (p *Pending) deleteAll(ctx context.Context) error {
	all, err := p.s.scan(ctx)
	if err != nil {
		return err
	}
	for _, st := range all {
		if st.id == p.id {
			return p.s.deleteCheckpoint(ctx, st)
		}
	}
	return nil
}

// Complete checks that every committed or added file is stored with its
// recorded size, then writes the checkpoint's metadata — last, under a
// temporary name copied into place — and prunes old checkpoints. It fails
// with ErrSubsumed (and deletes the checkpoint) if a newer one has
// completed. A non-nil Checkpoint with an error matching ErrPruning means
// the checkpoint completed but older ones could not all be deleted.
func (p *Pending) Complete(ctx context.Context, m Metadata) (*Checkpoint, error) {
	p.mu.Lock()
	if p.mu.done {
		p.mu.Unlock()
		return nil, fmt.Errorf("completing checkpoint %d: %w", p.id, ErrCheckpointDone)
	}
	if n := len(p.mu.writers); n > 0 {
		p.mu.Unlock()
		return nil, fmt.Errorf("completing checkpoint %d: %d state files still being written", p.id, n)
	}
	files := sortedFiles(p.mu.files)
	p.finishLocked()
	p.mu.Unlock()

	s := p.s
	fail := func(err error) (*Checkpoint, error) {
		return nil, fmt.Errorf("completing checkpoint %d of job %s: %w", p.id, s.job, err)
	}
	ids, err := s.Completed(ctx)
	if err != nil {
		return fail(err)
	}
	if len(ids) > 0 && ids[0] >= p.id {
		if slices.Contains(ids, p.id) {
			return fail(ErrCheckpointExists)
		}
		_ = p.deleteAll(ctx)
		return fail(fmt.Errorf("checkpoint %d has completed: %w", ids[0], ErrSubsumed))
	}
	for _, f := range files {
		attrs, err := s.bucket.Attributes(ctx, s.objectKey(p.id, f))
		if err != nil {
			if gcerrors.Code(err) == gcerrors.NotFound {
				return fail(fmt.Errorf("file %s: %w", f.Name, ErrMissingFile))
			}
			return fail(fmt.Errorf("file %s: %w", f.Name, err))
		}
		if attrs.Size != f.Size {
			return fail(fmt.Errorf("file %s: %d bytes stored, %d recorded: %w", f.Name, attrs.Size, f.Size, ErrCorrupt))
		}
	}

	c := &Checkpoint{
		ID:         p.id,
		JobID:      s.job,
		Timestamp:  timeMillis(m.Timestamp),
		Properties: maps.Clone(m.Properties),
		Files:      files,
	}
	data := encodeMetadata(c)
	tmp, final := s.key(p.id, metadataTemp), s.key(p.id, metadataName)
	if err := s.bucket.WriteAll(ctx, tmp, data, &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		return fail(fmt.Errorf("writing %s: %w", tmp, err))
	}
	if err := s.bucket.Copy(ctx, final, tmp, nil); err != nil {
		_ = s.bucket.Delete(ctx, tmp)
		return fail(fmt.Errorf("copying %s to %s: %w", tmp, final, err))
	}
	if err := s.bucket.Delete(ctx, tmp); err != nil {
		return c, fmt.Errorf("checkpoint %d of job %s completed; deleting %s: %w: %w", p.id, s.job, tmp, ErrPruning, err)
	}
	if err := s.Prune(ctx); err != nil {
		return c, fmt.Errorf("checkpoint %d of job %s completed: %w: %w", p.id, s.job, ErrPruning, err)
	}
	return c, nil
}

// FileWriter streams one state file. It is for one goroutine.
type FileWriter struct {
	p      *Pending
	part   Part
	name   string
	w      *blob.Writer
	cancel context.CancelFunc
	crc    uint32
	n      int64
	err    error // the first write error; Commit returns it
	done   bool
	shared bool // in the shared folder (CreateShared)
}

// Name is the file's name inside the checkpoint's folder.
func (w *FileWriter) Name() string { return w.name }

// Write appends p to the file.
func (w *FileWriter) Write(b []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("writing checkpoint %d file %s: %w", w.p.id, w.name, ErrCheckpointDone)
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(b)
	w.crc = crc32.Update(w.crc, castagnoli, b[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("writing checkpoint %d file %s: %w", w.p.id, w.name, err)
		return n, w.err
	}
	return n, nil
}

// Commit finishes the file and records it in the checkpoint.
func (w *FileWriter) Commit() (File, error) {
	if w.done {
		return File{}, fmt.Errorf("committing checkpoint %d file %s: %w", w.p.id, w.name, ErrCheckpointDone)
	}
	if w.err != nil {
		w.Abort()
		return File{}, w.err
	}
	w.done = true
	err := w.w.Close()
	w.cancel()
	p := w.p
	p.mu.Lock()
	delete(p.mu.writers, w)
	aborted := p.mu.done
	if err != nil && !aborted && !w.shared {
		delete(p.mu.parts, w.part)
	}
	f := File{Name: w.name, Part: w.part, Size: w.n, CRC32C: w.crc, Shared: w.shared}
	if err == nil && !aborted {
		p.mu.files[w.name] = f
	}
	p.mu.Unlock()
	if aborted {
		// Aborted while this file was written: do not leave it behind.
		if err == nil {
			_ = p.s.bucket.Delete(context.Background(), p.s.objectKey(p.id, f))
		}
		return File{}, fmt.Errorf("committing checkpoint %d file %s: %w", p.id, w.name, ErrCheckpointDone)
	}
	if err != nil {
		return File{}, fmt.Errorf("committing checkpoint %d file %s: %w", p.id, w.name, err)
	}
	return f, nil
}

// Abort gives the file up; nothing of it is stored.
func (w *FileWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel() // cancelling before Close discards the write
	_ = w.w.Close()
	p := w.p
	p.mu.Lock()
	delete(p.mu.writers, w)
	if !p.mu.done && !w.shared {
		delete(p.mu.parts, w.part)
	}
	p.mu.Unlock()
}

// fileName makes a unique, readable name for part's file: the operator id
// reduced to safe characters, the subtask, the key groups and a random
// suffix, so writers in different processes never collide.
func fileName(part Part) (string, error) {
	if part.Subtask < 0 {
		return "", fmt.Errorf("part %s: negative subtask", part)
	}
	if !part.KeyGroups.Empty() && part.KeyGroups.Start < 0 {
		return "", fmt.Errorf("part %s: negative key group", part)
	}
	var b strings.Builder
	op := part.Operator
	if len(op) > 64 {
		op = op[:64]
	}
	for _, r := range op {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("op")
	}
	b.WriteString("-" + strconv.Itoa(part.Subtask))
	if part.KeyGroups.Empty() {
		b.WriteString("-op")
	} else {
		fmt.Fprintf(&b, "-kg%d-%d", part.KeyGroups.Start, part.KeyGroups.End)
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("making a name for %s: %w", part, err)
	}
	b.WriteString("-" + hex.EncodeToString(r[:]))
	return b.String(), nil
}

// timeMillis is t as the metadata stores it: to the millisecond, in UTC.
func timeMillis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
