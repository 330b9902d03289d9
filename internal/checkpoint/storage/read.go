package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	pathpkg "path"
	"path/filepath"
	"strconv"
	"strings"

	"gocloud.dev/gcerrors"
)

// Latest returns the newest completed checkpoint whose metadata decodes and
// whose every state file has its recorded size and checksum (each file is
// read through once). Newer completed checkpoints that fail these checks
// are passed over and returned in skipped, newest first, for the caller to
// log at WARN; checkpoints without metadata are incomplete and ignored.
// With no usable checkpoint it returns ErrNoCheckpoint.
func (s *Storage) Latest(ctx context.Context) (c *Checkpoint, skipped []Skipped, err error) {
	ids, err := s.Completed(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		c, sk := s.load(ctx, id)
		if sk == nil {
			return c, skipped, nil
		}
		if ctx.Err() != nil {
			return nil, skipped, ctx.Err()
		}
		skipped = append(skipped, *sk)
	}
	return nil, skipped, fmt.Errorf("job %s (%d checkpoints skipped): %w", s.job, len(skipped), ErrNoCheckpoint)
}

// Load returns completed checkpoint id after the same checks as Latest.
func (s *Storage) Load(ctx context.Context, id uint64) (*Checkpoint, error) {
	c, sk := s.load(ctx, id)
	if sk != nil {
		return nil, sk.Err
	}
	return c, nil
}

func (s *Storage) load(ctx context.Context, id uint64) (*Checkpoint, *Skipped) {
	skip := func(file string, err error) (*Checkpoint, *Skipped) {
		return nil, &Skipped{ID: id, File: file, Err: err}
	}
	key := s.key(id, metadataName)
	data, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			err = fmt.Errorf("%w: %w", ErrMissingFile, err)
		}
		return skip("", fmt.Errorf("reading checkpoint %d of job %s: %s: %w", id, s.job, key, err))
	}
	c, err := decodeMetadata(data)
	if err != nil {
		return skip("", fmt.Errorf("reading checkpoint %d of job %s: %s: %w", id, s.job, key, err))
	}
	if c.ID != id || c.JobID != s.job {
		return skip("", fmt.Errorf("reading checkpoint %d of job %s: %s names checkpoint %d of job %s: %w",
			id, s.job, key, c.ID, c.JobID, ErrCorrupt))
	}
	for _, f := range c.Files {
		if err := s.verify(ctx, c, f); err != nil {
			return skip(f.Name, err)
		}
	}
	return c, nil
}

// verify reads f through and checks its size and checksum.
func (s *Storage) verify(ctx context.Context, c *Checkpoint, f File) error {
	r, err := s.OpenFile(ctx, c, f)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFile reads a whole state file of c, checking its size and CRC-32C.
func (s *Storage) ReadFile(ctx context.Context, c *Checkpoint, f File) ([]byte, error) {
	rc, err := s.OpenFile(ctx, c, f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %s of checkpoint %d: %w", f.Name, c.ID, err)
	}
	return b, nil
}

// CopyFile copies the state file f of c to the local file path, checking
// its size and CRC-32C.
func (s *Storage) CopyFile(ctx context.Context, c *Checkpoint, f File, path string) error {
	rc, err := s.OpenFile(ctx, c, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// OpenFile opens a state file of c for reading. The reader checks the
// file's size and CRC-32C as it goes: at the end of a file that does not
// match, Read returns an error matching ErrCorrupt instead of io.EOF.
func (s *Storage) OpenFile(ctx context.Context, c *Checkpoint, f File) (io.ReadCloser, error) {
	r, err := s.bucket.NewReader(ctx, s.objectKey(c.ID, f), nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			err = fmt.Errorf("%w: %w", ErrMissingFile, err)
		}
		return nil, fmt.Errorf("reading checkpoint %d of job %s: file %s: %w", c.ID, s.job, f.Name, err)
	}
	return &verifyingReader{r: r, f: f, id: c.ID, job: s.job}, nil
}

type verifyingReader struct {
	r   io.ReadCloser
	f   File
	id  uint64
	job string
	crc uint32
	n   int64
	err error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.crc = crc32.Update(v.crc, castagnoli, p[:n])
	v.n += int64(n)
	if v.n > v.f.Size {
		v.err = v.corrupt(fmt.Sprintf("more than the %d bytes recorded", v.f.Size))
		return n, v.err
	}
	switch {
	case errors.Is(err, io.EOF):
		if v.n != v.f.Size {
			v.err = v.corrupt(fmt.Sprintf("%d bytes, %d recorded", v.n, v.f.Size))
		} else if v.crc != v.f.CRC32C {
			v.err = v.corrupt(fmt.Sprintf("checksum %#08x, recorded %#08x", v.crc, v.f.CRC32C))
		} else {
			v.err = io.EOF
		}
		return n, v.err
	case err != nil:
		v.err = fmt.Errorf("reading checkpoint %d of job %s: file %s: %w", v.id, v.job, v.f.Name, err)
		return n, v.err
	}
	return n, nil
}

func (v *verifyingReader) corrupt(what string) error {
	return fmt.Errorf("reading checkpoint %d of job %s: file %s (%s): %s: %w", v.id, v.job, v.f.Name, v.f.Part, what, ErrCorrupt)
}

func (v *verifyingReader) Close() error { return v.r.Close() }

// CopyTo copies completed checkpoint c, every file checked on the way,
// into dst under the same id, and completes it there with c's metadata.
// A savepoint is a checkpoint copied out of the job's checkpoint storage,
// so retention never deletes it.
func (s *Storage) CopyTo(ctx context.Context, c *Checkpoint, dst *Storage) (*Checkpoint, error) {
	p, err := dst.BeginCheckpoint(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range c.Files {
		b, err := s.ReadFile(ctx, c, f)
		if err != nil {
			_ = p.Abort(ctx)
			return nil, err
		}
		create := p.Create
		if f.Shared {
			create = p.CreateShared
		}
		w, err := create(ctx, f.Part)
		if err != nil {
			_ = p.Abort(ctx)
			return nil, err
		}
		if _, err := w.Write(b); err != nil {
			w.Abort()
			_ = p.Abort(ctx)
			return nil, err
		}
		if _, err := w.Commit(); err != nil {
			_ = p.Abort(ctx)
			return nil, err
		}
	}
	out, err := p.Complete(ctx, Metadata{Timestamp: c.Timestamp, Properties: c.Properties})
	if err != nil && out == nil {
		return nil, err
	}
	return out, nil
}

// OpenCheckpoint opens the storage of the completed checkpoint (or
// savepoint) whose folder is path, <location>/<job>/chk-<id>, and loads it
// after checking every file. Close the Storage when done.
func OpenCheckpoint(ctx context.Context, path string) (*Storage, *Checkpoint, error) {
	p := strings.TrimRight(filepath.ToSlash(path), "/")
	dir, chk := pathpkg.Split(p)
	idText, ok := strings.CutPrefix(chk, "chk-")
	id, err := strconv.ParseUint(idText, 10, 64)
	if !ok || err != nil {
		return nil, nil, fmt.Errorf("opening checkpoint %q: not a checkpoint folder (…/<job>/chk-<id>)", path)
	}
	loc, job := pathpkg.Split(strings.TrimRight(dir, "/"))
	if job == "" {
		return nil, nil, fmt.Errorf("opening checkpoint %q: not a checkpoint folder (…/<job>/chk-<id>)", path)
	}
	st, err := Open(ctx, strings.TrimRight(loc, "/"), job)
	if err != nil {
		return nil, nil, fmt.Errorf("opening checkpoint %q: %w", path, err)
	}
	c, err := st.Load(ctx, id)
	if err != nil {
		_ = st.Close()
		return nil, nil, fmt.Errorf("opening checkpoint %q: %w", path, err)
	}
	return st, c, nil
}
