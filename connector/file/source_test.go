package file_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/connector/file/parquetfile"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
)

// event is the record of the source tests, in every format.
type event struct {
	ID    int64     `json:"id" csv:"id" parquet:"id"`
	Name  string    `json:"name" csv:"name" parquet:"name"`
	Score float64   `json:"score" csv:"score" parquet:"score"`
	OK    bool      `json:"ok" csv:"ok" parquet:"ok"`
	At    time.Time `json:"at" csv:"at" parquet:"at,timestamp(millisecond)"`
	Skip  string    `json:"-" csv:"-" parquet:"-"`
}

func (e event) String() string {
	return fmt.Sprintf("%d|%s|%g|%t|%s", e.ID, e.Name, e.Score, e.OK, e.At.UTC().Format(time.RFC3339))
}

var epoch = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

func newEvent(id int64) event {
	return event{ID: id, Name: fmt.Sprintf("n,%d \"q\"", id), Score: float64(id) / 4, OK: id%3 == 0, At: epoch.Add(time.Duration(id) * time.Second)}
}

func events(from, n int64) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = newEvent(from + int64(i))
	}
	return out
}

func strs[T fmt.Stringer](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	slices.Sort(out)
	return out
}

// compress returns b compressed as path's extension says.
func compress(t testing.TB, path string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch {
	case strings.HasSuffix(path, ".gz"):
		w := gzip.NewWriter(&buf)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case strings.HasSuffix(path, ".zst"):
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		return b
	}
	return buf.Bytes()
}

// writeAtomically writes data to path through a hidden file renamed into
// place, as files should be published to a monitored directory.
func writeAtomically(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// textFormat encodes events in one of the text formats.
type textFormat struct {
	name, ext string
	encode    func(t testing.TB, evs []event) []byte
}

var textFormats = []textFormat{
	{"lines", ".txt", func(t testing.TB, evs []event) []byte {
		var b bytes.Buffer
		for i, e := range evs {
			b.WriteString(lineOf(e))
			if i%2 == 0 {
				b.WriteByte('\r') // CRLF and LF both end lines
			}
			b.WriteByte('\n')
		}
		return b.Bytes()
	}},
	{"json", ".jsonl", func(t testing.TB, evs []event) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for i, e := range evs {
			if i == 1 {
				b.WriteString("  \n") // blank lines are skipped
			}
			if err := enc.Encode(e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}},
	{"csv", ".csv", func(t testing.TB, evs []event) []byte {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		// Columns in another order than the fields, one unknown.
		w.Write([]string{"AT", "score", "name", "extra", "id", "ok"})
		for _, e := range evs {
			w.Write([]string{e.At.Format(time.RFC3339), strconv.FormatFloat(e.Score, 'g', -1, 64), e.Name, "x\ny", strconv.FormatInt(e.ID, 10), strconv.FormatBool(e.OK)})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}},
}

// lineOf is an event as a line of the lines format.
func lineOf(e event) string { return e.String() }

// parseLine is the inverse of lineOf.
func parseLine(s string) (event, error) {
	f := strings.Split(s, "|")
	if len(f) != 5 {
		return event{}, fmt.Errorf("%d fields", len(f))
	}
	id, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return event{}, err
	}
	score, _ := strconv.ParseFloat(f[2], 64)
	at, _ := time.Parse(time.RFC3339, f[4])
	return event{ID: id, Name: f[1], Score: score, OK: f[3] == "true", At: at}, nil
}

// decodings are the decodings of the tests, each into events.
var decodings = map[string]file.Decoding[event]{
	"lines": file.DecodeLinesFunc(func(b []byte) (event, error) { return parseLine(string(b)) }),
	"json":  file.DecodeJSON[event](),
	"csv":   file.DecodeCSV[event](),
	"csv-func": file.DecodeCSVFunc(func(header, row []string) (event, error) {
		m := map[string]string{}
		for i, h := range header {
			m[strings.ToLower(h)] = row[i]
		}
		id, err := strconv.ParseInt(m["id"], 10, 64)
		if err != nil {
			return event{}, err
		}
		score, _ := strconv.ParseFloat(m["score"], 64)
		at, _ := time.Parse(time.RFC3339, m["at"])
		return event{ID: id, Name: m["name"], Score: score, OK: m["ok"] == "true", At: at}, nil
	}),
	"parquet": parquetfile.Decode[event](),
}

// formatCase is a format with its decoding and a compression.
type formatCase struct {
	name  string
	ext   string // with the compression's
	write func(t testing.TB, path string, evs []event)
	dec   file.Decoding[event]
}

func formatCases() []formatCase {
	var out []formatCase
	for _, f := range textFormats {
		for _, comp := range []string{"", ".gz", ".zst"} {
			decs := []string{f.name}
			if f.name == "csv" {
				decs = append(decs, "csv-func")
			}
			for _, d := range decs {
				out = append(out, formatCase{
					name: d + comp, ext: f.ext + comp, dec: decodings[d],
					write: func(t testing.TB, path string, evs []event) {
						writeAtomically(t, path, compress(t, path, f.encode(t, evs)))
					},
				})
			}
		}
	}
	return append(out, formatCase{name: "parquet", ext: ".parquet", dec: decodings["parquet"], write: writeParquet})
}

func writeParquet(t testing.TB, path string, evs []event) {
	var b bytes.Buffer
	// Small row groups and pages, so that a restore seeks in the file.
	w := parquet.NewGenericWriter[event](&b, parquet.MaxRowsPerRowGroup(300), parquet.PageBufferSize(1024))
	if _, err := w.Write(evs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, path, b.Bytes())
}

// TestSourceFormats reads files of every format and compression in a job
// at parallelism 2: every record arrives once, with its typed fields.
func TestSourceFormats(t *testing.T) {
	for _, fc := range formatCases() {
		t.Run(fc.name, func(t *testing.T) {
			dir := t.TempDir()
			var want []event
			for i := range int64(3) {
				evs := events(i*1000, 300+i)
				fc.write(t, filepath.Join(dir, fmt.Sprintf("f%d%s", i, fc.ext)), evs)
				want = append(want, evs...)
			}
			fc.write(t, filepath.Join(dir, "empty"+fc.ext), nil)
			env := quietEnv(freshet.WithParallelism(2))
			got := freshet.Collect(freshet.FromSource(env, file.NewSource(fc.dec, []string{dir}), "files"))
			if err := env.Execute(context.Background(), "formats"); err != nil {
				t.Fatal(err)
			}
			if g, w := strs(got.Values()), strs(want); !slices.Equal(g, w) {
				t.Fatalf("got %d records, want %d: first got %q, want %q", len(g), len(w), head(g), head(w))
			}
		})
	}
}

// fakeReaderContext is the context of a reader driven by a test.
type fakeReaderContext struct {
	requests int
	metrics  *metric.Group
}

func (*fakeReaderContext) SubtaskIndex() int        { return 0 }
func (*fakeReaderContext) Parallelism() int         { return 1 }
func (c *fakeReaderContext) SendSplitRequest()      { c.requests++ }
func (c *fakeReaderContext) Metrics() *metric.Group { return c.metrics }

type sliceOutput[T any] struct{ vs []T }

func (o *sliceOutput[T]) Collect(v T)                       { o.vs = append(o.vs, v) }
func (o *sliceOutput[T]) CollectWithTimestamp(v T, _ int64) { o.vs = append(o.vs, v) }

// TestReaderResumesMidFile takes a reader's splits after each poll and
// reads the rest of the files with a new reader given those splits: the
// two together read every record once, in every format and compression.
func TestReaderResumesMidFile(t *testing.T) {
	for _, fc := range formatCases() {
		t.Run(fc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			var want []event
			for i := range int64(2) {
				evs := events(i*10000, 700)
				p := filepath.Join(dir, fmt.Sprintf("f%d%s", i, fc.ext))
				fc.write(t, p, evs)
				paths = append(paths, p)
				want = append(want, evs...)
			}
			src := file.NewSource(fc.dec, paths)
			splits := make([]file.Split, len(paths))
			for i, p := range paths {
				splits[i] = file.Split{Path: p}
			}
			var got []event
			restores := 0
			for len(splits) > 0 {
				r, err := src.CreateReader(&fakeReaderContext{})
				if err != nil {
					t.Fatal(err)
				}
				r.AddSplits(splits)
				r.NotifyNoMoreSplits()
				if err := r.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				out := &sliceOutput[event]{}
				st, err := r.PollNext(out)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, out.vs...)
				if st == source.EndOfInput {
					splits = nil
				} else {
					if splits, err = r.SnapshotState(1); err != nil {
						t.Fatal(err)
					}
					if len(splits) > 0 && splits[0].Pos != (file.Position{}) {
						restores++
					}
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if restores < 4 {
				t.Fatalf("%d restores in the middle of a file, want 4 or more", restores)
			}
			if !slices.EqualFunc(got, want, func(a, b event) bool { return a.String() == b.String() }) {
				t.Fatalf("got %d records, want the %d in order", len(got), len(want))
			}
		})
	}
}

// runJob runs a bounded job reading src and returns what it collected and
// its error.
func runJob[T any](t *testing.T, src *file.Source[T], p int) ([]T, error) {
	t.Helper()
	env := quietEnv(freshet.WithParallelism(p))
	got := freshet.Collect(freshet.FromSource(env, src, "files"))
	err := env.Execute(context.Background(), "files")
	return got.Values(), err
}

// TestMalformedRecords fails the job on a bad record with an error that
// names the file and line or row, or, with SkipMalformed, reads around it.
func TestMalformedRecords(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "a.jsonl.gz")
	writeAtomically(t, jsonl, compress(t, jsonl, []byte("{\"id\":1}\n{\"id\":2}\n{\"id\": oops}\n{\"id\":4}\n")))
	csvf := filepath.Join(dir, "b.csv")
	writeAtomically(t, csvf, []byte("id,ok\n1,true\n2,maybe\n3,false\n4,a\"b\n5,true,extra\n6,true\n"))
	for _, tc := range []struct {
		name    string
		run     func(opts ...file.SourceOption) ([]string, error)
		wantErr string
		want    []string
	}{
		{"json", func(opts ...file.SourceOption) ([]string, error) {
			got, err := runJob(t, file.NewSource(file.DecodeJSON[event](), []string{jsonl}, opts...), 1)
			return ids(got), err
		}, jsonl + ":3 (line 3, offset 18)", []string{"1", "2", "4"}},
		{"csv", func(opts ...file.SourceOption) ([]string, error) {
			got, err := runJob(t, file.NewSource(file.DecodeCSV[event](), []string{csvf}, opts...), 1)
			return ids(got), err
		}, csvf + ":2 (row 2, offset 13): column 2 (ok)", []string{"1", "3", "6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.run()
			if !errors.Is(err, file.ErrMalformed) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Execute = %v, want a malformed record at %s", err, tc.wantErr)
			}
			got, err := tc.run(file.SkipMalformed())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("with SkipMalformed got %v, want %v", got, tc.want)
			}
		})
	}
}

func ids(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strconv.FormatInt(e.ID, 10)
	}
	slices.Sort(out)
	return out
}

// TestListing reads what a directory shows: hidden files and directories
// (a leading '.' or '_') are skipped, sub-directories only with Recursive,
// names filtered by Glob; named files are read whatever their name.
func TestListing(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.txt", "a\n")
	write("b.csv", "b\n")
	write("sub/c.txt", "c\n")
	write("sub/deeper/d.txt", "d\n")
	write(".hidden.txt", "hidden\n")
	write("_underscore.txt", "underscore\n")
	write(".inprogress/e.txt", "in progress\n")
	write("_tmp/f.txt", "tmp\n")
	write("g.txt._COPYING_", "copying\n")
	named := write("_named.txt", "named\n")
	for _, tc := range []struct {
		name  string
		paths []string
		opts  []file.SourceOption
		want  []string
	}{
		{"flat", []string{dir}, nil, []string{"a", "b"}},
		{"recursive", []string{dir}, []file.SourceOption{file.Recursive()}, []string{"a", "b", "c", "d"}},
		{"glob", []string{dir}, []file.SourceOption{file.Recursive(), file.Glob("*.txt")}, []string{"a", "c", "d"}},
		{"named", []string{named, dir, filepath.Join(dir, "a.txt")}, nil, []string{"a", "b", "named"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runJob(t, file.NewSource(file.DecodeLines(), tc.paths, tc.opts...), 2)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("read %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSourceInvalid: configurations that cannot run fail the job.
func TestSourceInvalid(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for name, src := range map[string]*file.Source[string]{
		"no paths": file.NewSource(file.DecodeLines(), nil),
		"no dec":   file.NewSource[string](nil, []string{missing}),
		"glob":     file.NewSource(file.DecodeLines(), []string{missing}, file.Glob("[")),
		"missing":  file.NewSource(file.DecodeLines(), []string{missing}),
	} {
		if _, err := runJob(t, src, 1); err == nil {
			t.Errorf("%s: the job ran", name)
		}
	}
	notParquet := filepath.Join(t.TempDir(), "a.parquet")
	os.WriteFile(notParquet, []byte("not parquet\n"), 0o644)
	_, err := runJob(t, file.NewSource(parquetfile.Decode[event](), []string{notParquet}), 1)
	if err == nil || !strings.Contains(err.Error(), notParquet) {
		t.Errorf("reading a text file as Parquet: %v, want an error naming it", err)
	}
}

// failingSink is the job of the failure tests: records of the source go
// through a function that fails the job at random records of its first
// attempts, then to the exactly-once file sink.
func failingJob[T any](env *freshet.Env, src *file.Source[T], f *failures, line func(T) string, out string) {
	checked := freshet.Process(freshet.FromSource(env, src, "files").UID("files-in"), freshet.ProcessFunc(func(ctx *freshet.Context, v T, o freshet.Collector[string]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		o.Collect(line(v))
		return nil
	}))
	freshet.SinkTo(checked, &file.Sink[string]{Dest: file.Dir(out), Format: file.StringLines()}, "out").UID("out")
}

// TestSourceExactlyOnceUnderFailures reads files of every format, plain
// and compressed, at parallelism 2 in a job that checkpoints every 20 ms and fails three
// times at random records: the file sink's committed output holds every
// record once, so every restore resumed each file where its checkpoint
// had left it.
func TestSourceExactlyOnceUnderFailures(t *testing.T) {
	for i, fc := range formatCases() {
		switch fc.name {
		case "lines.zst", "json", "csv.gz", "parquet": // every format, plain and compressed
		default:
			continue // much the same as one of these
		}
		t.Run(fc.name, func(t *testing.T) {
			dir, out := t.TempDir(), t.TempDir()
			var want []string
			for j := range int64(3) {
				evs := events(j*100000, 2000)
				fc.write(t, filepath.Join(dir, fmt.Sprintf("f%d%s", j, fc.ext)), evs)
				want = append(want, strs(evs)...)
			}
			slices.Sort(want)
			const total = 6000
			f := &failures{attempts: 3, rng: rand.New(rand.NewPCG(uint64(i), 11)), lo: total / 10, hi: total / 3}
			env := quietEnv(freshet.WithParallelism(2),
				freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 5*time.Millisecond)),
				freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
			var n, resumed atomic.Int64
			slow := file.NewSource[event](slowDecoding[event]{fc.dec, &n, &resumed}, []string{dir})
			failingJob(env, slow, f, event.String, out)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "files-"+fc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if got := jc.Restarts(); got < 3 || f.failed.Load() < 3 {
				t.Fatalf("restarted %d times after %d injected failures, want at least 3", got, f.failed.Load())
			}
			if resumed.Load() == 0 {
				t.Fatal("no file was resumed in its middle")
			}
			got := lines(visibleDir(t, out))
			if !slices.Equal(got, want) {
				dup, missing := diff(got, want)
				t.Fatalf("committed %d records, want %d once each: %d duplicated (%v…), %d missing (%v…)",
					len(got), len(want), len(dup), head(dup), len(missing), head(missing))
			}
		})
	}
}

// slowDecoding paces a decoding at about 50 records a millisecond, so that
// checkpoints are taken in the middle of files.
type slowDecoding[T any] struct {
	file.Decoding[T]
	n       *atomic.Int64
	resumed *atomic.Int64 // files opened after their first record
}

func (s slowDecoding[T]) Open(path string, pos file.Position) (file.Decoder[T], error) {
	if pos.Record > 1 {
		s.resumed.Add(1)
	}
	d, err := s.Decoding.Open(path, pos)
	if err != nil {
		return nil, err
	}
	return slowDecoder[T]{d, s.n}, nil
}

type slowDecoder[T any] struct {
	file.Decoder[T]
	n *atomic.Int64
}

func (s slowDecoder[T]) Next() (T, error) {
	if s.n.Add(1)%50 == 0 {
		time.Sleep(time.Millisecond) // pacing, not synchronisation
	}
	return s.Decoder.Next()
}

// TestMonitorExactlyOnceUnderFailures publishes files to a directory that
// a continuous source monitors while its job fails at least five times:
// the file sink's committed output ends up holding every record of every
// published file exactly once, and nothing of the hidden files.
func TestMonitorExactlyOnceUnderFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir, out := t.TempDir(), t.TempDir()
	// Hidden and in-progress files are never read.
	os.WriteFile(filepath.Join(dir, ".hidden.jsonl"), []byte("{\"id\":-1}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "_SUCCESS"), []byte("{\"id\":-2}\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".inprogress"), 0o755)
	os.WriteFile(filepath.Join(dir, ".inprogress", "part.jsonl"), []byte("{\"id\":-3}\n"), 0o644)

	const perFile = 100
	f := &failures{attempts: 6, rng: rand.New(rand.NewPCG(5, 6)), lo: 50, hi: 250}
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 5*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	src := file.NewSource(file.DecodeJSON[event](), []string{dir}, file.Monitor(10*time.Millisecond))
	failingJob(env, src, f, func(e event) string { return strconv.FormatInt(e.ID, 10) }, out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "monitor")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		jc.Cancel()
		jc.Wait()
	}()

	// Publish files, paced, until the job has failed six times.
	var want []string
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	files := 0
	for ; files < 20 || (f.failed.Load() < 6 && files < 2000); files++ {
		var b bytes.Buffer
		for k := range perFile {
			id := files*perFile + k
			fmt.Fprintf(&b, "{\"id\":%d}\n", id)
			want = append(want, strconv.Itoa(id))
		}
		comp := []string{"", ".gz", ".zst"}[files%3]
		p := filepath.Join(dir, fmt.Sprintf("in-%04d.jsonl%s", files, comp))
		writeAtomically(t, p, compress(t, p, b.Bytes()))
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("timed out publishing files")
		}
	}
	slices.Sort(want)
	if f.failed.Load() < 5 {
		t.Fatalf("%d injected failures after %d files, want 5 or more", f.failed.Load(), files)
	}
	// Wait for the last records to be committed.
	var got []string
	for {
		got = lines(visibleDir(t, out))
		if len(got) >= len(want) {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("committed %d records of %d by the deadline", len(got), len(want))
		case <-jc.Done():
			t.Fatalf("the job ended: %v", jc.Err())
		}
	}
	jc.Cancel()
	jc.Wait()
	got = lines(visibleDir(t, out))
	if !slices.Equal(got, want) {
		dup, missing := diff(got, want)
		t.Fatalf("committed %d records, want %d once each: %d duplicated (%v…), %d missing (%v…)",
			len(got), len(want), len(dup), head(dup), len(missing), head(missing))
	}
	t.Logf("%d files, %d restarts, %d injected failures", files, jc.Restarts(), f.failed.Load())
}

// fakeEnumContext records what an enumerator assigns.
type fakeEnumContext struct {
	assigned []string
	noMore   int
}

func (*fakeEnumContext) Parallelism() int { return 2 }
func (c *fakeEnumContext) AssignSplits(_ int, splits ...file.Split) {
	for _, s := range splits {
		c.assigned = append(c.assigned, filepath.Base(s.Path))
	}
}
func (c *fakeEnumContext) SignalNoMoreSplits(int) { c.noMore++ }

// TestMonitorEnumerator drives a continuous source's enumerator: it
// assigns each settled file once, keeps the files it assigned in its
// checkpoint state, and a restored enumerator assigns only newer files.
func TestMonitorEnumerator(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	publish := func(name string, mtime time.Time) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	publish("a", old)
	publish("b", old)
	publish("c", time.Now().Add(time.Hour)) // still being written
	publish(".d", old)
	const interval = time.Second
	now := time.Now()
	clock := func() time.Time { return now }
	src := file.NewSource(file.DecodeLines(), []string{dir}, file.Monitor(interval), file.SourceClock(clock))
	if src.Boundedness() != source.Unbounded {
		t.Fatal("a monitoring source is bounded")
	}
	ctx := &fakeEnumContext{}
	e, err := src.CreateEnumerator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(e source.Enumerator[file.Split], n int) {
		for range n {
			now = now.Add(interval)
			e.HandleSplitRequest(0)
		}
	}
	ask(e, 1)
	state, err := e.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	want := []file.Split{{Path: filepath.Join(dir, "b")}, {Path: filepath.Join(dir, "a"), Done: true}}
	if !slices.Equal(state, want) {
		t.Fatalf("state %+v, want %+v", state, want)
	}
	ask(e, 3)
	publish("c", old)
	publish("e", old)
	ask(e, 3)
	if want := []string{"a", "b", "c", "e"}; !slices.Equal(ctx.assigned, want) || ctx.noMore != 0 {
		t.Fatalf("assigned %v (no more splits %d times), want %v, each once and no end", ctx.assigned, ctx.noMore, want)
	}
	// Restored from the first state: b is pending, a done; c and e are new.
	ctx2 := &fakeEnumContext{}
	e2, err := src.RestoreEnumerator(ctx2, state)
	if err != nil {
		t.Fatal(err)
	}
	ask(e2, 4)
	if want := []string{"b", "c", "e"}; !slices.Equal(ctx2.assigned, want) {
		t.Fatalf("restored enumerator assigned %v, want %v", ctx2.assigned, want)
	}
}

// TestCSVOptions reads CSV without a header, with another delimiter and
// time layout, into a struct with a field of its own text type.
func TestCSVOptions(t *testing.T) {
	type row struct {
		Day   time.Time
		Level level
		N     uint8
		Note  string `csv:"-"`
		X     float32
	}
	p := filepath.Join(t.TempDir(), "a.csv.zst")
	writeAtomically(t, p, compress(t, p, []byte("2026-11-30;warn;7;1.5\n2026-12-01;info;;\n2026-12-02;info;300;\n")))
	src := file.NewSource(file.DecodeCSV[row](file.CSVNoHeader(), file.CSVComma(';'), file.CSVTimeLayout(time.DateOnly)), []string{p}, file.SkipMalformed(), file.SourceLogger(slog.New(slog.DiscardHandler)))
	got, err := runJob(t, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{Day: epoch, Level: 2, N: 7, X: 1.5},
		{Day: epoch.AddDate(0, 0, 1), Level: 1},
		// The third row's 300 does not fit a uint8: skipped.
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "info":
		*l = 1
	case "warn":
		*l = 2
	default:
		return fmt.Errorf("level %q", b)
	}
	return nil
}

// TestReaderMetrics reads two text files of 300 lines of 9 bytes: after
// the first poll, 256 lines in, bytesRead is their bytes and both files
// remain; at the end every byte is counted and no file remains.
func TestReaderMetrics(t *testing.T) {
	dir := t.TempDir()
	var splits []file.Split
	for i := range 2 {
		var b bytes.Buffer
		for j := range 300 {
			fmt.Fprintf(&b, "line-%03d\n", j)
		}
		p := filepath.Join(dir, fmt.Sprintf("f%d.txt", i))
		writeAtomically(t, p, b.Bytes())
		splits = append(splits, file.Split{Path: p})
	}
	m := metric.NewGroup()
	r, err := file.NewSource(file.DecodeLines(), []string{dir}).CreateReader(&fakeReaderContext{metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.AddSplits(splits)
	r.NotifyNoMoreSplits()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := &sliceOutput[string]{}
	check := func(when string, bytesRead int64, files float64) {
		t.Helper()
		want := []metric.Value{{Name: "bytesRead", Kind: metric.KindCounter, Value: float64(bytesRead)}, {Name: "filesRemaining", Kind: metric.KindGauge, Value: files}}
		if got := m.Values(); !slices.Equal(got, want) {
			t.Errorf("%s: %+v, want %+v", when, got, want)
		}
	}
	if _, err := r.PollNext(out); err != nil {
		t.Fatal(err)
	}
	check("after 256 lines", 256*9, 2)
	for {
		st, err := r.PollNext(out)
		if err != nil {
			t.Fatal(err)
		}
		if st == source.EndOfInput {
			break
		}
	}
	if len(out.vs) != 600 {
		t.Fatalf("read %d lines, want 600", len(out.vs))
	}
	check("at the end", 2*300*9, 0)
}
