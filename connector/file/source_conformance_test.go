package file_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/file"
)

// TestSourceConformance runs the connectors' conformance suite on the file
// source: a partition is a file of lines, gzipped for odd partitions.
func TestSourceConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source{
		Partitions: 3,
		Guarantee:  connectortest.ExactlyOnce,
		Ordered:    true,
		Setup: func(t *testing.T) connectortest.SourceScenario {
			dir := t.TempDir()
			return connectortest.SourceScenario{
				Publish: func(t *testing.T, partition int, payloads [][]byte) {
					name := fmt.Sprintf("p%d.txt", partition)
					if partition%2 == 1 {
						name += ".gz"
					}
					p := filepath.Join(dir, name)
					if _, err := os.Stat(p); err == nil {
						t.Fatalf("partition %d published twice", partition)
					}
					writeAtomically(t, p, compress(t, p, append(bytes.Join(payloads, []byte{'\n'}), '\n')))
				},
				Stream: func(env *freshet.Env) *freshet.Stream[connectortest.Record] {
					return freshet.FromSource(env, file.NewSource(file.DecodeLinesFunc(connectortest.Decode), []string{dir}), "files").UID("files")
				},
			}
		},
	})
}
