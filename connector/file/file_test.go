package file_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// visible returns the committed part files a reader sees under root, by
// key: it skips hidden names (a leading dot) and the staging prefix.
func visibleDir(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func visibleBucket(t *testing.T, b *blob.Bucket) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(o.Key, ".") || strings.Contains(o.Key, "/.") {
			continue
		}
		data, err := b.ReadAll(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = data
	}
	return out
}

// lines splits every file's content into lines.
func lines(files map[string][]byte) []string {
	var out []string
	for _, b := range files {
		s := bufio.NewScanner(bytes.NewReader(b))
		for s.Scan() {
			out = append(out, s.Text())
		}
	}
	slices.Sort(out)
	return out
}

func numbers(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = strconv.Itoa(i)
	}
	slices.Sort(out)
	return out
}

func quietEnv(opts ...freshet.Option) *freshet.Env {
	return freshet.NewEnv(append([]freshet.Option{freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

func itoaLines() file.Format[int64] {
	return file.Lines(func(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) })
}

func gen(env *freshet.Env, n int64, rate float64) *freshet.Stream[int64] {
	opts := []source.GeneratorOption{source.GeneratorCount(n)}
	if rate > 0 {
		opts = append(opts, source.GeneratorRate(rate))
	}
	return freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, opts...), "numbers")
}

func TestRollingBySizeAndBuckets(t *testing.T) {
	dir := t.TempDir()
	env := quietEnv(freshet.WithParallelism(2))
	freshet.SinkTo(gen(env, 3000, 0), &file.Sink[int64]{
		Dest:    file.Dir(dir),
		Format:  itoaLines(),
		Bucket:  func(v int64, _ sink.Context) string { return "b" + strconv.FormatInt(v%3, 10) },
		Rolling: file.RollingPolicy{MaxPartSize: 1000},
	}, "files")
	if err := env.Execute(context.Background(), "rolling"); err != nil {
		t.Fatal(err)
	}
	files := visibleDir(t, dir)
	if got, want := lines(files), numbers(3000); !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d, each once", len(got), len(want))
	}
	// 3000 numbers of about 4.6 bytes each in parts of about 1000 bytes.
	if len(files) < 12 {
		t.Fatalf("%d part files, want several per bucket and subtask", len(files))
	}
	for k, b := range files {
		bucket, name, _ := strings.Cut(k, "/")
		if !strings.HasPrefix(name, "part-") || !strings.HasSuffix(name, ".txt") {
			t.Errorf("part file %s: want part-…-<subtask>-<counter>.txt", k)
		}
		if len(b) > 1000+8 {
			t.Errorf("part %s has %d bytes, want at most one line past 1000", k, len(b))
		}
		for _, l := range strings.Fields(string(b)) {
			v, _ := strconv.Atoi(l)
			if want := "b" + strconv.Itoa(v%3); bucket != want {
				t.Fatalf("%d is in bucket %s, want %s", v, bucket, want)
			}
		}
	}
	if staged, err := file.Dir(dir).Staged(context.Background()); err != nil || len(staged) != 0 {
		t.Fatalf("staged parts %v (%v) left after a job that finished", staged, err)
	}
}

func TestRollingByTime(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second) // every record is a second later
		return now
	}
	dir := t.TempDir()
	env := quietEnv(freshet.WithParallelism(1))
	freshet.SinkTo(gen(env, 100, 0), &file.Sink[int64]{
		Dest: file.Dir(dir), Format: itoaLines(), Now: clock,
		Rolling: file.RollingPolicy{RolloverInterval: 10 * time.Second},
	}, "files")
	if err := env.Execute(context.Background(), "rolling"); err != nil {
		t.Fatal(err)
	}
	files := visibleDir(t, dir)
	if len(files) != 10 {
		t.Fatalf("%d part files, want 10 of 10 records", len(files))
	}
	if got := lines(files); !slices.Equal(got, numbers(100)) {
		t.Fatalf("got lines %v", got)
	}
}

type row struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func rows(n int64) []row {
	out := make([]row, n)
	for i := range n {
		out[i] = row{ID: i, Name: fmt.Sprintf("name, \"%d\"\nline", i)}
	}
	return out
}

func TestFormatsRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		format file.Format[row]
		read   func(b []byte) ([]row, error)
	}{
		{"csv", file.CSV(func(r row) []string { return []string{strconv.FormatInt(r.ID, 10), r.Name} }), func(b []byte) ([]row, error) {
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			var out []row
			for _, r := range recs {
				id, _ := strconv.ParseInt(r[0], 10, 64)
				out = append(out, row{ID: id, Name: r[1]})
			}
			return out, err
		}},
		{"json", file.JSON[row](), func(b []byte) ([]row, error) {
			var out []row
			d := json.NewDecoder(bytes.NewReader(b))
			for {
				var r row
				if err := d.Decode(&r); errors.Is(err, io.EOF) {
					return out, nil
				} else if err != nil {
					return out, err
				}
				out = append(out, r)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := quietEnv(freshet.WithParallelism(2))
			freshet.SinkTo(freshet.FromElements(env, rows(500)...), &file.Sink[row]{
				Dest: file.Dir(dir), Format: tc.format, Rolling: file.RollingPolicy{MaxPartSize: 4000},
			}, "files")
			if err := env.Execute(context.Background(), "formats"); err != nil {
				t.Fatal(err)
			}
			var got []row
			for k, b := range visibleDir(t, dir) {
				if !strings.HasSuffix(k, tc.format.Extension()) {
					t.Errorf("part %s without extension %s", k, tc.format.Extension())
				}
				rs, err := tc.read(b)
				if err != nil {
					t.Fatalf("reading %s: %v", k, err)
				}
				got = append(got, rs...)
			}
			slices.SortFunc(got, func(a, b row) int { return int(a.ID - b.ID) })
			if !slices.Equal(got, rows(500)) {
				t.Fatalf("read back %d rows, want the 500 written", len(got))
			}
		})
	}
}

var errInjected = errors.New("injected failure")

// failures fails the job at a random record of each of its first
// attempts, once per attempt.
type failures struct {
	attempts int
	mu       sync.Mutex
	limit    map[int]int64
	seen     map[int]*atomic.Int64
	rng      *rand.Rand
	lo, hi   int64
	failed   atomic.Int32
}

func (f *failures) check(attempt int) error {
	f.mu.Lock()
	if f.seen == nil {
		f.seen, f.limit = map[int]*atomic.Int64{}, map[int]int64{}
	}
	c, ok := f.seen[attempt]
	if !ok {
		c = new(atomic.Int64)
		f.seen[attempt] = c
		f.limit[attempt] = f.lo + f.rng.Int64N(f.hi-f.lo)
	}
	limit := f.limit[attempt]
	f.mu.Unlock()
	if c.Add(1) == limit && attempt < f.attempts {
		f.failed.Add(1)
		return fmt.Errorf("attempt %d: %w", attempt, errInjected)
	}
	return nil
}

// TestExactlyOnceUnderFailures writes numbers through the file sink of a
// job that checkpoints every 50 ms and fails at random records of its
// first attempts: the visible files hold every number exactly once, in a
// directory and in buckets, with aligned and unaligned checkpoints.
func TestExactlyOnceUnderFailures(t *testing.T) {
	const n = 20000
	mem, err := blob.OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	fdir := t.TempDir()
	fb, err := blob.OpenBucket(context.Background(), "file://"+filepath.ToSlash(fdir))
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	dir := t.TempDir()
	udir := t.TempDir()
	cases := []struct {
		name    string
		dest    file.Destination
		visible func() map[string][]byte
		opts    []freshet.CheckpointOption
	}{
		{"dir", file.Dir(dir), func() map[string][]byte { return visibleDir(t, dir) }, nil},
		{"mem-bucket", file.Bucket(mem), func() map[string][]byte { return visibleBucket(t, mem) }, nil},
		{"file-bucket", file.Bucket(fb), func() map[string][]byte { return visibleBucket(t, fb) }, nil},
		{"dir-unaligned", file.Dir(udir), func() map[string][]byte { return visibleDir(t, udir) }, []freshet.CheckpointOption{freshet.UnalignedCheckpoints()}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &failures{attempts: 3, rng: rand.New(rand.NewPCG(uint64(i), 7)), lo: n / 8, hi: n / 4}
			env := quietEnv(freshet.WithParallelism(2),
				freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
				freshet.WithCheckpointing(50*time.Millisecond, append(tc.opts, freshet.CheckpointStorage(t.TempDir()))...))
			checked := freshet.Process(gen(env, n, 15000).Rebalance(), freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
				if err := f.check(ctx.Runtime().Attempt()); err != nil {
					return err
				}
				out.Collect(v)
				return nil
			}))
			freshet.SinkTo(checked.Rebalance(), &file.Sink[int64]{
				Dest: tc.dest, Format: itoaLines(),
				Bucket:  func(v int64, _ sink.Context) string { return "b" + strconv.FormatInt(v%2, 10) },
				Rolling: file.RollingPolicy{MaxPartSize: 8 << 10},
			}, "files").UID("files")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "files-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if got := jc.Restarts(); got < 3 || f.failed.Load() < 3 {
				t.Fatalf("restarted %d times after %d injected failures, want at least 3", got, f.failed.Load())
			}
			completed := 0
			for _, c := range jc.Checkpoints() {
				if c.Status == freshet.CheckpointCompleted {
					completed++
				}
			}
			files := tc.visible()
			for k := range files {
				if strings.Contains(k, "inprogress") {
					t.Fatalf("staged part %s is visible", k)
				}
			}
			got := lines(files)
			if want := numbers(n); !slices.Equal(got, want) {
				dup, missing := diff(got, want)
				t.Fatalf("visible files hold %d lines, want %d once each: %d duplicated (%v…), %d missing (%v…)",
					len(got), len(want), len(dup), head(dup), len(missing), head(missing))
			}
			staged, err := tc.dest.Staged(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d restarts, %d checkpoints completed, %d visible part files, %d staged parts left", jc.Restarts(), completed, len(files), len(staged))
		})
	}
}

func diff(got, want []string) (dup, missing []string) {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		switch c := count[w]; {
		case c == 0:
			missing = append(missing, w)
		case c > 1:
			dup = append(dup, w)
		}
	}
	return dup, missing
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func TestRollingByInactivity(t *testing.T) {
	for _, tc := range []struct {
		inactivity time.Duration
		wantA      int
	}{{0, 1}, {5 * time.Second, 2}} {
		t.Run(tc.inactivity.String(), func(t *testing.T) {
			var mu sync.Mutex
			now := time.Unix(0, 0)
			clock := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(time.Second) // every record is a second later
				return now
			}
			dir := t.TempDir()
			env := quietEnv(freshet.WithParallelism(1))
			freshet.SinkTo(gen(env, 60, 0), &file.Sink[int64]{
				Dest: file.Dir(dir), Format: itoaLines(), Now: clock,
				// Records 0–9 and 50–59 go to a, 10–49 to b: a is
				// inactive for 40 s in between.
				Bucket: func(v int64, _ sink.Context) string {
					if v < 10 || v >= 50 {
						return "a"
					}
					return "b"
				},
				Rolling: file.RollingPolicy{InactivityInterval: tc.inactivity, RolloverInterval: time.Hour},
			}, "files")
			if err := env.Execute(context.Background(), "inactivity"); err != nil {
				t.Fatal(err)
			}
			files := visibleDir(t, dir)
			a := 0
			for k := range files {
				if strings.HasPrefix(k, "a/") {
					a++
				}
			}
			if a != tc.wantA || len(files) != tc.wantA+1 {
				t.Fatalf("%d parts in a of %d, want %d in a and 1 in b", a, len(files), tc.wantA)
			}
			if got := lines(files); !slices.Equal(got, numbers(60)) {
				t.Fatalf("got lines %v", got)
			}
		})
	}
}

type initCtx struct{}

func (initCtx) Context() context.Context { return context.Background() }
func (initCtx) SubtaskIndex() int        { return 0 }
func (initCtx) Parallelism() int         { return 1 }
func (initCtx) Attempt() int             { return 0 }
func (initCtx) Metrics() *metric.Group   { return nil }

func (initCtx) RestoredCheckpointID() (int64, bool) { return 0, false }

// TestRestoreCommitsPendingAndDiscardsLater drives a file sink's writer as
// the runtime does through a crash: after the restore, the parts pending
// at the checkpoint are visible and those staged after it are gone.
func TestRestoreCommitsPendingAndDiscardsLater(t *testing.T) {
	for _, tc := range []struct {
		name string
		dest func(t *testing.T) (file.Destination, func() map[string][]byte)
	}{
		{"dir", func(t *testing.T) (file.Destination, func() map[string][]byte) {
			dir := t.TempDir()
			return file.Dir(dir), func() map[string][]byte { return visibleDir(t, dir) }
		}},
		{"mem-bucket", func(t *testing.T) (file.Destination, func() map[string][]byte) {
			b, err := blob.OpenBucket(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return file.Bucket(b), func() map[string][]byte { return visibleBucket(t, b) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest, visible := tc.dest(t)
			s := &file.Sink[int64]{Dest: dest, Format: itoaLines(),
				Bucket:  func(v int64, _ sink.Context) string { return "b" + strconv.FormatInt(v%2, 10) },
				Rolling: file.RollingPolicy{MaxPartSize: 20}}
			w, h, err := s.CreateCheckpointedWriter(initCtx{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range int64(20) {
				if err := w.Write(i, sink.Context{}); err != nil {
					t.Fatal(err)
				}
			}
			st, err := h.SnapshotState(1)
			if err != nil {
				t.Fatal(err)
			}
			for i := int64(20); i < 40; i++ {
				if err := w.Write(i, sink.Context{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.SnapshotState(2); err != nil { // never completes
				t.Fatal(err)
			}
			for i := int64(40); i < 50; i++ {
				if err := w.Write(i, sink.Context{}); err != nil {
					t.Fatal(err)
				}
			}
			staged, err := dest.Staged(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(staged) < 6 || len(visible()) != 0 {
				t.Fatalf("%d staged and %d visible parts before any commit", len(staged), len(visible()))
			}
			// The writer crashes (no Close); the restore from checkpoint 1
			// commits its parts and discards the later ones.
			w2, _, err := s.CreateCheckpointedWriter(initCtx{}, st)
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(visible()); !slices.Equal(got, numbersFrom(0, 20)) {
				t.Fatalf("visible after the restore: %v, want 0–19", got)
			}
			if staged, _ := dest.Staged(context.Background()); len(staged) != 0 {
				t.Fatalf("staged parts left after the restore: %v", staged)
			}
			if err := w2.Flush(true); err != nil {
				t.Fatal(err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func numbersFrom(lo, hi int) []string {
	var out []string
	for i := lo; i < hi; i++ {
		out = append(out, strconv.Itoa(i))
	}
	slices.Sort(out)
	return out
}
