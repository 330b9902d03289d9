package file_test

import (
	"bufio"
	"bytes"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/sink"
)

// recordFormat writes a record per line, refusing those bad says are bad.
type recordFormat struct {
	bad func(connectortest.Record) bool
}

func (f recordFormat) NewEncoder(w io.Writer) (file.Encoder[connectortest.Record], error) {
	return recordEncoder{w: w, bad: f.bad}, nil
}
func (recordFormat) Extension() string { return ".txt" }

type recordEncoder struct {
	w   io.Writer
	bad func(connectortest.Record) bool
}

func (e recordEncoder) Encode(r connectortest.Record) error {
	if e.bad(r) {
		return connectortest.ErrBadRecord
	}
	_, err := e.w.Write(append(r.Encode(), '\n'))
	return err
}
func (recordEncoder) Close() error { return nil }

// TestSinkConformance runs the connectors' conformance suite on the file
// sink, one bucket per partition; reading back goes through each
// bucket's committed part files in the order they were written.
func TestSinkConformance(t *testing.T) {
	connectortest.RunSink(t, connectortest.Sink{
		Guarantee: connectortest.ExactlyOnce,
		Ordered:   true,
		Setup: func(t *testing.T) connectortest.SinkScenario {
			dir := t.TempDir()
			return connectortest.SinkScenario{
				Attach: func(s *freshet.Stream[connectortest.Record], bad func(connectortest.Record) bool) {
					freshet.SinkTo(s, &file.Sink[connectortest.Record]{
						Dest:   file.Dir(dir),
						Format: recordFormat{bad: bad},
						Bucket: func(r connectortest.Record, _ sink.Context) string {
							return "p" + strconv.Itoa(r.Partition)
						},
						Rolling: file.RollingPolicy{MaxPartSize: 4 << 10},
					}, "files").UID("files")
				},
				ReadBack: func(t *testing.T) []connectortest.Record {
					files := visibleDir(t, dir)
					keys := make([]string, 0, len(files))
					for k := range files {
						keys = append(keys, k)
					}
					slices.SortFunc(keys, comparePartKeys)
					var out []connectortest.Record
					for _, k := range keys {
						s := bufio.NewScanner(bytes.NewReader(files[k]))
						for s.Scan() {
							r, err := connectortest.Decode(s.Bytes())
							if err != nil {
								t.Fatalf("%s: %v", k, err)
							}
							out = append(out, r)
						}
					}
					return out
				},
			}
		},
	})
}

// comparePartKeys orders part files by bucket, then subtask, then the
// counter of the part within its subtask ("p1/part-0-12.txt").
func comparePartKeys(a, b string) int {
	split := func(k string) (string, int, int) {
		dir, name := path.Split(k)
		fields := strings.Split(strings.TrimSuffix(name, path.Ext(name)), "-")
		sub, _ := strconv.Atoi(fields[len(fields)-2])
		n, _ := strconv.Atoi(fields[len(fields)-1])
		return dir, sub, n
	}
	da, sa, na := split(a)
	db, sb, nb := split(b)
	if c := strings.Compare(da, db); c != 0 {
		return c
	}
	if sa != sb {
		return sa - sb
	}
	return na - nb
}
