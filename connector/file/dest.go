package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Destination is where a file sink writes its part files, by key: a
// slash-separated path relative to the destination's root, such as
// "2026-11-29/part-3f2a-0-7.csv". A part is first written staged, under a
// name readers skip, and made visible under its key by Commit.
// Implementations must be safe for use by several subtasks at once.
type Destination interface {
	// Create creates the staged file of the part key, replacing any.
	Create(ctx context.Context, key string) (io.WriteCloser, error)
	// Commit makes the staged part key visible under key. It must be
	// idempotent: committing a part already committed succeeds.
	Commit(ctx context.Context, key string) error
	// Discard deletes the staged part key, if it exists.
	Discard(ctx context.Context, key string) error
	// Staged returns the keys of the parts staged and not committed.
	Staged(ctx context.Context) ([]string, error)
}

// Dir is a Destination in the local directory root. A part is staged
// under the hidden directory root/.inprogress, at its key, and committed
// by renaming it to its key, which is atomic.
func Dir(root string) Destination { return dirDest{root: root} }

type dirDest struct{ root string }

func (d dirDest) final(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d dirDest) staged(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(StagingPrefix+key))
}

func (d dirDest) Create(_ context.Context, key string) (io.WriteCloser, error) {
	p := d.staged(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("creating part %s: %w", key, err)
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("creating part %s: %w", key, err)
	}
	return syncCloser{f}, nil
}

// syncCloser makes a part durable before it can be committed.
type syncCloser struct{ *os.File }

func (s syncCloser) Close() error {
	err := s.Sync()
	return errors.Join(err, s.File.Close())
}

func (d dirDest) Commit(_ context.Context, key string) error {
	if err := os.MkdirAll(filepath.Dir(d.final(key)), 0o755); err != nil {
		return fmt.Errorf("committing part %s: %w", key, err)
	}
	err := os.Rename(d.staged(key), d.final(key))
	if errors.Is(err, fs.ErrNotExist) {
		// Committed before (a commit repeated after a restore).
		if _, serr := os.Stat(d.final(key)); serr == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("committing part %s: %w", key, err)
	}
	return nil
}

func (d dirDest) Discard(_ context.Context, key string) error {
	if err := os.Remove(d.staged(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discarding part %s: %w", key, err)
	}
	return nil
}

func (d dirDest) Staged(context.Context) ([]string, error) {
	root := filepath.Join(d.root, filepath.FromSlash(StagingPrefix))
	var keys []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return fs.SkipAll
		}
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		keys = append(keys, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing staged parts: %w", err)
	}
	return keys, nil
}

// StagingPrefix is the key prefix under which destinations stage parts;
// readers skip it, as they skip names that start with a dot.
const StagingPrefix = ".inprogress/"

// Bucket is a Destination in a gocloud.dev/blob bucket (a directory,
// memory, S3, GCS, Azure). A part is staged under StagingPrefix+key and
// committed by copying it to key and deleting the staged object. The
// caller keeps ownership of b.
func Bucket(b *blob.Bucket) Destination { return bucketDest{b: b} }

type bucketDest struct{ b *blob.Bucket }

func (d bucketDest) Create(ctx context.Context, key string) (io.WriteCloser, error) {
	w, err := d.b.NewWriter(ctx, StagingPrefix+key, nil)
	if err != nil {
		return nil, fmt.Errorf("creating part %s: %w", key, err)
	}
	return w, nil
}

func (d bucketDest) Commit(ctx context.Context, key string) error {
	err := d.b.Copy(ctx, key, StagingPrefix+key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		if ok, eerr := d.b.Exists(ctx, key); eerr == nil && ok {
			return nil // committed before
		}
	}
	if err != nil {
		return fmt.Errorf("committing part %s: %w", key, err)
	}
	if err := d.b.Delete(ctx, StagingPrefix+key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("committing part %s: deleting the staged part: %w", key, err)
	}
	return nil
}

func (d bucketDest) Staged(ctx context.Context) ([]string, error) {
	var keys []string
	it := d.b.List(&blob.ListOptions{Prefix: StagingPrefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing staged parts: %w", err)
		}
		if !o.IsDir {
			keys = append(keys, strings.TrimPrefix(o.Key, StagingPrefix))
		}
	}
}

func (d bucketDest) Discard(ctx context.Context, key string) error {
	if err := d.b.Delete(ctx, StagingPrefix+key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("discarding part %s: %w", key, err)
	}
	return nil
}
